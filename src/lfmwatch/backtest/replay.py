"""Backtest: replay corpus days through classify -> select and measure what the bot would have proposed.

Everything here is pure given its inputs (papers, labels, a model, a selection function): no store, no network.
A "ranker" is anything with `predict(papers) -> list[dict]` returning the DESIGN.md prediction fields (the
LfmModel and the baselines of `baselines.py`); a "selector" is `(candidates, blocked_ids, limit) -> selected`,
normally `lfmwatch.select.select_papers` bound to the list (see `make_selector`), so each replayed day goes
through the same threshold, cap and dedupe rules as the daily run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Protocol

from lfmwatch.ids import new_id_month
from lfmwatch.records import SEP, area_of

BUDGETS = tuple(range(1, 21))  # daily budgets of the precision/recall curve
PAPER_FIELDS = ("id", "title", "abstract", "categories")


class Ranker(Protocol):
    """Anything that predicts DESIGN.md prediction fields for a batch of papers."""

    def predict(self, papers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One prediction dict per paper (relevant, score, section, ...)."""
        ...


Selector = Callable[[list[dict[str, Any]], set[str], int], list[dict[str, Any]]]
Day = tuple[str, list[dict[str, Any]]]  # (YYYY-MM-DD, papers released that day)


# --- input ---------------------------------------------------------------------------------------------------


def paper_day(paper: Mapping[str, Any]) -> str | None:
    """Release day of a paper: its `listed` day, else the date part of `published`."""
    day = paper.get("listed") or str(paper.get("published") or "")[:10]
    return str(day) if day else None


def split_days(papers: Iterable[Mapping[str, Any]], start: str, end: str) -> list[Day]:
    """Papers released from `start` to `end` (inclusive) grouped by day, days in order, papers by id."""
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in papers:
        day = p.get("day") or paper_day(p)
        if day and start <= day <= end:
            by_day[day].append(dict(p))
    return [(d, sorted(by_day[d], key=lambda p: str(p["id"]))) for d in sorted(by_day)]


@dataclass(frozen=True)
class Label:
    """One label row: the paper belongs in `section`; `precision` is leaf (exact) or top (area only)."""

    id: str
    section: str
    precision: str = "leaf"
    listed: str | None = None
    source_list: str | None = None
    title: str | None = None
    abstract: str | None = None


def released_by(arxiv_id: str, listed: str | None, until: str) -> bool:
    """Whether a labelled paper was public by `until` (its listing day, else the month in a new-style id)."""
    if listed:
        return listed <= until
    issued = new_id_month(arxiv_id)
    if issued is None:
        return True  # old-style ids (cs/0101001) are all long before any replay period
    return f"{issued[0]:04d}-{issued[1]:02d}" <= until[:7]


def day_before(day: str) -> str:
    """The calendar day before `day` (YYYY-MM-DD)."""
    from datetime import date, timedelta

    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


# --- selection ------------------------------------------------------------------------------------------------


def sections_markdown(sections: Iterable[str], title: str = "Backtest") -> str:
    """A README with exactly these section paths as headings (for selecting without a real list)."""
    lines = [f"# {title}", ""]
    done: set[tuple[str, ...]] = set()
    for path in sorted(set(sections)):
        parts = tuple(path.split(SEP))
        for depth in range(1, len(parts) + 1):
            if parts[:depth] not in done:
                done.add(parts[:depth])
                lines += [f"{'#' * (depth + 1)} {parts[depth - 1]}", ""]
    return "\n".join(lines) + "\n"


def make_selector(lst: Any, min_score: float = 0.0, per_section: int = 0) -> Selector:
    """The daily run's selection (`lfmwatch.select.select_papers`) bound to the list `lst`."""
    from lfmwatch.select import select_papers

    def select(cands: list[dict[str, Any]], blocked: set[str], limit: int) -> list[dict[str, Any]]:
        chosen, _ = select_papers(cands, lst, blocked, limit, min_score, per_section)
        return chosen

    return select


# --- replay ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """A paper the bot would have proposed on `day`."""

    day: str
    id: str
    section: str | None
    score: float


def candidates(papers: Sequence[Mapping[str, Any]], preds: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Paper + prediction dicts, as the daily run hands them to selection (abstracts dropped to save memory)."""
    return [
        {"id": p["id"], "title": p.get("title"), **{k: v for k, v in pr.items() if k != "why"}}
        for p, pr in zip(papers, preds, strict=True)
    ]


def selectable(cands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates the selection can pick: relevant ones (it skips the rest as below its floor).

    Passing only these gives the same selection and keeps 21 selections a day (one per budget) cheap.
    """
    return [c for c in cands if c.get("relevant") not in (0, False)]


def predict_days(ranker: Ranker, days: Sequence[Day], batch: int = 4096) -> list[list[dict[str, Any]]]:
    """Candidates of every day, predicted in batches of whole days (prediction is per paper: batching changes
    nothing but speed; bounded batches keep the feature matrix small)."""
    out: list[list[dict[str, Any]]] = []
    i = 0
    while i < len(days):
        j, n = i, 0
        while j < len(days) and (n == 0 or n + len(days[j][1]) <= batch):
            n += len(days[j][1])
            j += 1
        flat = [p for _, papers in days[i:j] for p in papers]
        cands = candidates(flat, ranker.predict(flat)) if flat else []
        k = 0
        for _, papers in days[i:j]:
            out.append(cands[k : k + len(papers)])
            k += len(papers)
        i = j
    return out


def select_days(
    days: Sequence[Day], cands_by_day: Sequence[list[dict[str, Any]]], select: Selector, per_day: int,
    blocked: Iterable[str] = (),
) -> list[Proposal]:
    """Run the selection day after day; each day is deduped against everything proposed before it."""
    seen = set(blocked)
    out: list[Proposal] = []
    for (day, _), cands in zip(days, cands_by_day, strict=True):
        for c in select(selectable(cands), seen, per_day):
            out.append(Proposal(day, str(c["id"]), c.get("section"), float(c.get("score") or 0.0)))
            seen.add(str(c["id"]))
    return out


# --- the simulated reviewer -----------------------------------------------------------------------------------


def judge(
    proposal: Proposal, labels: Mapping[str, Sequence[Label]], verdicts: Mapping[str, bool] | None = None
) -> tuple[str, str | None]:
    """(accepted | moved | rejected, section it ends up in) as a maintainer who knows the labels would decide.

    An unlabelled paper is rejected, unless `verdicts` (reviewer include flags) says it belongs: labels are a
    sample, and rejecting every unlabelled proposal teaches the model that its good finds are wrong.
    """
    rows = labels.get(proposal.id)
    if not rows:
        if verdicts and verdicts.get(proposal.id):
            return "accepted", proposal.section
        return "rejected", None
    if any(r.section == proposal.section for r in rows):
        return "accepted", proposal.section
    exact = [r.section for r in rows if r.precision == "leaf"]
    return "moved", (exact or [rows[0].section])[0]


@dataclass
class ReviewRound:
    """One review: the day it happened and what the reviewer decided."""

    day: str
    accepted: int = 0
    moved: int = 0
    rejected: int = 0
    threshold: float | None = None  # of the model retrained after this review
    rule: str | None = None  # the rule that set that threshold


def replay_with_review(
    days: Sequence[Day], ranker: Ranker, select: Selector, per_day: int, labels: Mapping[str, Sequence[Label]],
    every: int, retrain: Callable[[list[dict[str, Any]]], Ranker], blocked: Iterable[str] = (),
    verdicts: Mapping[str, bool] | None = None,
) -> tuple[list[Proposal], list[ReviewRound]]:
    """Replay where every `every` days the proposals are reviewed, fed back and the ranker retrained.

    `retrain(feedback)` gets all feedback so far: dicts with id, title, abstract, label, section,
    proposed_section. A paper awaiting review stays blocked, as it sits in the open PR.
    """
    seen = set(blocked)
    out: list[Proposal] = []
    rounds: list[ReviewRound] = []
    feedback: list[dict[str, Any]] = []
    pending: list[tuple[Proposal, Mapping[str, Any]]] = []
    step = max(every, 1)
    for start in range(0, len(days), step):
        window = list(days[start : start + step])
        for (day, papers), cands in zip(window, predict_days(ranker, window), strict=True):
            by_id = {str(p["id"]): p for p in papers}
            for c in select(selectable(cands), seen, per_day):
                prop = Proposal(day, str(c["id"]), c.get("section"), float(c.get("score") or 0.0))
                out.append(prop)
                seen.add(prop.id)
                pending.append((prop, by_id.get(prop.id, c)))
        if start + step >= len(days):
            break  # no review after the last window: nothing would use the retrained model
        review = ReviewRound(window[-1][0])
        for prop, paper in pending:
            label, section = judge(prop, labels, verdicts)
            setattr(review, label, getattr(review, label) + 1)
            feedback.append(
                {"id": prop.id, "title": paper.get("title"), "abstract": paper.get("abstract"), "label": label,
                 "section": section, "proposed_section": prop.section}
            )
        pending = []
        rounds.append(review)
        ranker = retrain(list(feedback))
        if isinstance(getattr(ranker, "threshold", None), float):
            review.threshold = round(float(ranker.threshold), 6)  # type: ignore[attr-defined]
            review.rule = (getattr(ranker, "card", None) or {}).get("threshold_rule")
    return out, rounds


# --- metrics --------------------------------------------------------------------------------------------------


@dataclass
class Truth:
    """The labelled papers the replay can find: replayed, labelled and not already in the list."""

    labels: dict[str, list[Label]]
    period: dict[str, str]  # id -> release day of labelled papers to find
    in_list: set[str] = field(default_factory=set)  # labelled papers of the period the list already has
    reviewed: dict[str, bool] = field(default_factory=dict)  # id -> a reviewer's include verdict (held out)

    @classmethod
    def build(cls, labels: Mapping[str, Sequence[Label]], days: Sequence[Day], listed_ids: Iterable[str] = ()) -> Truth:
        """Truth for a replay of `days`; papers of `listed_ids` are excluded (the bot cannot propose them)."""
        in_list_all = set(listed_ids)
        period: dict[str, str] = {}
        in_list: set[str] = set()
        for day, papers in days:
            for p in papers:
                pid = str(p["id"])
                if pid in labels:
                    (in_list.add(pid) if pid in in_list_all else period.setdefault(pid, day))
        return cls({k: list(v) for k, v in labels.items()}, period, in_list)


@dataclass
class Metrics:
    """What one system would have proposed over the replay, scored against the labels."""

    name: str
    per_day: int
    days: int
    labelled: int
    found: int
    proposed: int
    proposed_labelled: int
    top_n: int
    top_ok: int
    leaf_n: int
    leaf_ok: int
    counts: list[int]  # proposals per replayed day
    per_section: dict[str, tuple[int, int]]  # label section -> (found, labelled)
    judged: int = 0  # proposals whose relevance is known: labelled or reviewed
    judged_ok: int = 0  # ... and relevant: labelled or reviewed as included

    @property
    def recall(self) -> float:
        """Share of the period's labelled papers proposed within the budget."""
        return self.found / self.labelled if self.labelled else 0.0

    @property
    def precision(self) -> float:
        """Share of proposals that are labelled (a lower bound: unlabelled relevant papers count as misses)."""
        return self.proposed_labelled / self.proposed if self.proposed else 0.0

    @property
    def top_accuracy(self) -> float:
        """Proposed labelled papers filed in their labelled top-level area."""
        return self.top_ok / self.top_n if self.top_n else 0.0

    @property
    def leaf_accuracy(self) -> float:
        """Proposed papers with an exact (leaf) label filed in exactly that section."""
        return self.leaf_ok / self.leaf_n if self.leaf_n else 0.0

    @property
    def day_median(self) -> float:
        """Median proposals per replayed day."""
        return float(median(self.counts)) if self.counts else 0.0

    @property
    def day_max(self) -> int:
        """Most proposals on one day."""
        return max(self.counts, default=0)

    def summary(self) -> dict[str, Any]:
        """Headline numbers as a flat dict (for JSON and tables)."""
        return {
            "system": self.name, "per_day": self.per_day, "days": self.days, "labelled": self.labelled,
            "found": self.found, "recall": round(self.recall, 4), "proposed": self.proposed,
            "precision_lb": round(self.precision, 4), "top_accuracy": round(self.top_accuracy, 4),
            "top_n": self.top_n, "leaf_accuracy": round(self.leaf_accuracy, 4), "leaf_n": self.leaf_n,
            "per_day_median": self.day_median, "per_day_max": self.day_max,
            "judged": self.judged, "judged_ok": self.judged_ok,
        }


def score(name: str, proposals: Sequence[Proposal], truth: Truth, days: Sequence[Day], per_day: int) -> Metrics:
    """Metrics of a list of proposals against the truth."""
    by_day: dict[str, int] = defaultdict(int)
    for p in proposals:
        by_day[p.day] += 1
    found = {p.id for p in proposals if p.id in truth.period}
    top_n = top_ok = leaf_n = leaf_ok = proposed_labelled = 0
    for p in proposals:
        rows = truth.labels.get(p.id)
        if not rows:
            continue
        proposed_labelled += 1
        top_n += 1
        top_ok += area_of(p.section) in {area_of(r.section) for r in rows}
        exact = {r.section for r in rows if r.precision == "leaf"}
        if exact:
            leaf_n += 1
            leaf_ok += p.section in exact
    judged = [p.id in truth.labels or truth.reviewed[p.id] for p in proposals
              if p.id in truth.labels or p.id in truth.reviewed]
    per_section: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pid in truth.period:
        for sec in sorted({r.section for r in truth.labels[pid]}):
            per_section[sec][1] += 1
            per_section[sec][0] += pid in found
    return Metrics(
        name=name, per_day=per_day, days=len(days), labelled=len(truth.period), found=len(found),
        proposed=len(proposals), proposed_labelled=proposed_labelled, top_n=top_n, top_ok=top_ok,
        leaf_n=leaf_n, leaf_ok=leaf_ok, counts=[by_day.get(d, 0) for d, _ in days],
        per_section={k: (v[0], v[1]) for k, v in sorted(per_section.items())}, judged=len(judged),
        judged_ok=sum(judged),
    )


def budget_curve(
    days: Sequence[Day], cands_by_day: Sequence[list[dict[str, Any]]], select: Selector, truth: Truth,
    budgets: Sequence[int] = BUDGETS, blocked: Iterable[str] = (),
) -> list[tuple[int, float, float, int]]:
    """(budget K, recall, precision lower bound, proposals) for each daily budget, from one set of predictions."""
    out = []
    for k in budgets:
        m = score("", select_days(days, cands_by_day, select, k, blocked), truth, days, k)
        out.append((k, m.recall, m.precision, m.proposed))
    return out


def learning_curve(
    proposals: Sequence[Proposal], truth: Truth, days: Sequence[Day], every: int
) -> list[tuple[str, float, float]]:
    """(last day of window, cumulative recall, cumulative precision) after each window of `every` days."""
    out = []
    for end in range(every, len(days) + every, every):
        upto = days[min(end, len(days)) - 1][0]
        props = [p for p in proposals if p.day <= upto]
        period = {k for k, d in truth.period.items() if d <= upto}
        found = sum(1 for p in props if p.id in period)
        labelled = sum(1 for p in props if p.id in truth.labels)
        out.append((upto, found / len(period) if period else 0.0, labelled / len(props) if props else 0.0))
    return out


SWEEP = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05)


def threshold_sweep(
    days: Sequence[Day], cands_by_day: Sequence[list[dict[str, Any]]], select: Selector, truth: Truth, per_day: int,
    thresholds: Sequence[float] = SWEEP, blocked: Iterable[str] = (),
) -> list[tuple[float, float, float, int]]:
    """(threshold, recall, precision lower bound, proposals) if the relevance threshold had been each value.

    Only the `relevant` flag changes (score >= threshold); selection, budget and dedupe stay the daily run's.
    """
    out = []
    for t in thresholds:
        flagged = [[{**c, "relevant": True} for c in cands if float(c.get("score") or 0.0) >= t]
                   for cands in cands_by_day]
        m = score("", select_days(days, flagged, select, per_day, blocked), truth, days, per_day)
        out.append((t, m.recall, m.precision, m.proposed))
    return out


def paired_sections(a: Sequence[Proposal], b: Sequence[Proposal], truth: Truth) -> dict[str, int]:
    """Section accuracy of two systems on the labelled papers both proposed: the same papers, a fair comparison.

    Keys: n/a_ok/b_ok for the top-level area, leaf_n/leaf_a_ok/leaf_b_ok for papers with an exact label.
    """
    sec_a = {p.id: p.section for p in a}
    sec_b = {p.id: p.section for p in b}
    out = dict.fromkeys(("n", "a_ok", "b_ok", "leaf_n", "leaf_a_ok", "leaf_b_ok"), 0)
    for pid in sorted(set(sec_a) & set(sec_b) & set(truth.labels)):
        rows = truth.labels[pid]
        areas = {area_of(r.section) for r in rows}
        out["n"] += 1
        out["a_ok"] += area_of(sec_a[pid]) in areas
        out["b_ok"] += area_of(sec_b[pid]) in areas
        exact = {r.section for r in rows if r.precision == "leaf"}
        if exact:
            out["leaf_n"] += 1
            out["leaf_a_ok"] += sec_a[pid] in exact
            out["leaf_b_ok"] += sec_b[pid] in exact
    return out


def section_accuracy(cands_by_day: Sequence[list[dict[str, Any]]], truth: Truth) -> tuple[int, int, int, int]:
    """(top ok, top n, leaf ok, leaf n) of the predicted section of every labelled paper of the period, proposed
    or not (the classifier benchmark's definition; more papers than the proposed ones, so steadier)."""
    top_ok = top_n = leaf_ok = leaf_n = 0
    for cands in cands_by_day:
        for c in cands:
            rows = truth.labels.get(str(c["id"])) if str(c["id"]) in truth.period else None
            if not rows:
                continue
            top_n += 1
            top_ok += area_of(c.get("section")) in {area_of(r.section) for r in rows}
            exact = {r.section for r in rows if r.precision == "leaf"}
            if exact:
                leaf_n += 1
                leaf_ok += c.get("section") in exact
    return top_ok, top_n, leaf_ok, leaf_n


def ranking_recall(
    cands_by_day: Sequence[list[dict[str, Any]]], truth: Truth, budgets: Sequence[int] = BUDGETS
) -> list[tuple[int, float]]:
    """(K, share of labelled papers among each day's top K by score), ignoring threshold and dedupe.

    This is the classifier benchmark's recall@K/day (issue 8): how well the scores rank, apart from where the
    threshold cuts.
    """
    hits = [0] * len(budgets)
    for cands in cands_by_day:
        order = sorted(cands, key=lambda c: (-float(c.get("score") or 0.0), str(c["id"])))
        for rank, c in enumerate(order[: max(budgets, default=0)]):
            if str(c["id"]) in truth.period:
                for i, k in enumerate(budgets):
                    hits[i] += rank < k
    n = len(truth.period)
    return [(k, h / n if n else 0.0) for k, h in zip(budgets, hits, strict=True)]
