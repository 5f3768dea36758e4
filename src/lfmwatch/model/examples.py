"""Training input, pure: TrainingExample, its kinds, and the helpers that shape examples (readers.py does the IO).

Every source becomes a `TrainingExample(id, title, abstract, section, weight, kind)`, so review feedback from the
store slots in beside the list's own entries and curated labels. Positive kinds say the paper belongs in the list;
negative kinds say it does not (hard negatives) or that nobody labelled it (`negative`: most are irrelevant, a
few are unlabelled positives, which the trainer handles knowingly).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lfmwatch.awesome.parse import parse_list

# kind -> (is positive, trains the leaf section, default weight)
KINDS: dict[str, tuple[bool | None, bool, float]] = {
    "list": (True, True, 1.0),  # an entry of the target README
    "label": (True, True, 1.0),  # a curated label whose leaf section is exact
    "label_top": (True, False, 1.0),  # a curated label where only the top-level area is certain
    "reviewed_pos": (True, True, 1.0),  # a maintainer reviewed it and included it
    "reviewed_neg": (False, False, 3.0),  # a maintainer reviewed it and excluded it: a hard negative
    "feedback_accepted": (True, True, 2.0),  # merged by the maintainers in the proposed section
    "feedback_moved": (True, True, 2.0),  # merged, but moved to another section (section = where it went)
    "feedback_rejected": (False, False, 3.0),  # a reviewer removed its line or ignored it: a hard negative
    "feedback_closed": (None, False, 1.0),  # only in a PR closed as a whole: a weak negative, like an unlabelled paper
    "negative": (None, False, 1.0),  # unlabelled paper of the configured categories
}
POSITIVE_KINDS = frozenset(k for k, v in KINDS.items() if v[0] is True)
HARD_NEGATIVE_KINDS = frozenset(k for k, v in KINDS.items() if v[0] is False)
LEAF_KINDS = frozenset(k for k, v in KINDS.items() if v[1])
#: Labels given independently of any model's scores (reviews and feedback judge papers a model picked; a merged
#: proposal is both "list" and feedback, and counts as judged).
RANDOM_LABEL_KINDS = frozenset({"list", "label", "label_top"})
REVIEWED_KINDS = frozenset({"reviewed_pos", "reviewed_neg"})
FEEDBACK_KINDS = frozenset({"feedback_accepted", "feedback_moved", "feedback_rejected"})
#: Decisions on papers a model picked: reviews of hard cases and the maintainers' verdicts on proposals.
JUDGED_KINDS = REVIEWED_KINDS | FEEDBACK_KINDS


@dataclass(frozen=True)
class TrainingExample:
    """One training row; `section` is a heading path or None, `kind` one of KINDS."""

    id: str
    title: str
    abstract: str
    section: str | None
    weight: float
    kind: str
    stream: bool = False  # the paper is part of the stream the unlabelled papers were drawn from

    @property
    def positive(self) -> bool:
        """True when the paper belongs in the list."""
        return self.kind in POSITIVE_KINDS


def example(pid: str, title: str | None, abstract: str | None, section: str | None, kind: str,
            weight: float | None = None, stream: bool | None = None) -> TrainingExample:
    """A TrainingExample with the kind's default weight; unlabelled (`negative`) papers are stream papers."""
    if kind not in KINDS:
        raise ValueError(f"unknown example kind {kind!r}")
    return TrainingExample(pid, " ".join(str(title or "").split()), " ".join(str(abstract or "").split()),
                           section, KINDS[kind][2] if weight is None else weight, kind,
                           kind == "negative" if stream is None else stream)


def mark_stream(examples: Iterable[TrainingExample], ids: Collection[str]) -> list[TrainingExample]:
    """The examples with `stream` set for papers in `ids` (labelled papers found among the stream's papers)."""
    return [replace(ex, stream=True) if ex.id in ids and not ex.stream else ex for ex in examples]


def readme_entries(text: str, exclude: Sequence[str] = ()) -> tuple[list[tuple[str, str, str]], list[str]]:
    """((arxiv_id, section, title) entries, section paths) of a README's paper sections, read by the engine."""
    parsed = parse_list(text, exclude=list(exclude))
    sections = parsed.paper_sections()
    wanted = set(sections)
    entries = [(e.arxiv_id, e.section, e.title) for e in parsed.entries if e.arxiv_id and e.section in wanted]
    return entries, sections


def fill_texts(examples: list[TrainingExample], known: Mapping[str, Mapping[str, Any]],
               fetch: Callable[[list[str]], Iterable[Mapping[str, Any]]] | None = None) -> tuple[list[TrainingExample], dict[str, int]]:
    """Give examples the best known title/abstract: own text, then `known` papers, then `fetch(ids)`.

    Returns the examples (those still without a title dropped) and counts of where text came from.
    """
    best: dict[str, tuple[str, str]] = {}
    for ex in examples:
        title, abstract = best.get(ex.id, ("", ""))
        best[ex.id] = (ex.title or title, abstract if len(abstract) >= len(ex.abstract) else ex.abstract)
    for pid, (title, abstract) in list(best.items()):
        paper = known.get(pid)
        if paper and not abstract:
            best[pid] = (title or str(paper.get("title") or ""), str(paper.get("abstract") or ""))
    counts = {"fetched": 0, "title_only": 0, "dropped": 0}
    missing = [pid for pid, (_, abstract) in best.items() if not abstract]
    if missing and fetch is not None:
        for paper in fetch(missing):
            pid = str(paper.get("id"))
            if pid in best and paper.get("abstract"):
                best[pid] = (best[pid][0] or str(paper.get("title") or ""), str(paper["abstract"]))
                counts["fetched"] += 1
    out = []
    for ex in examples:
        title, abstract = best[ex.id]
        if not title:
            counts["dropped"] += 1
            continue
        if not abstract:
            counts["title_only"] += 1
        out.append(replace(ex, title=title, abstract=abstract))
    return out, counts


