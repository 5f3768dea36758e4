"""The systems a backtest compares and how they are built from files: baselines behind the model's
`predict(papers)` interface, the readers of the corpus and labels, the training data of every system cut at a day
(nothing from the replayed period leaks into training), and `backtest_from_files`, the command as a function.

- `KeywordBaseline`: what README auto-updaters do: a paper matches a section when its title or abstract contains
  one of the section's keywords (its heading words plus obvious synonyms, table `KEYWORDS` below).
- `SvmBaseline`: arxiv-sanity-lite's method: tf-idf of title + abstract and one LinearSVC per section
  (`class_weight="balanced"`, C=0.01), positives the list's own entries in that section, negatives all other
  papers; a paper's score is its best section's decision value.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lfmwatch.backtest.replay import (
    PAPER_FIELDS,
    Label,
    Ranker,
    day_before,
    make_selector,
    paper_day,
    released_by,
    sections_markdown,
    split_days,
)
from lfmwatch.backtest.runner import BacktestResult, run_backtest
from lfmwatch.errors import InputError, ModelError
from lfmwatch.model.readers import read_jsonl

# Section path -> keywords, written lower-case with spaces (text is matched with hyphens read as spaces).
# Deliberately small: the heading's own words and the synonyms a maintainer would type into such a bot.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "Model Tuning > Weight Enginerring > Fine Tuning": ("fine tuning", "finetuning"),
    "Model Tuning > Weight Enginerring > Adapter Tuning": (
        "adapter tuning", "adapters", "adapter", "lora", "low rank adaptation", "parameter efficient",
    ),
    "Model Tuning > Input engineering > Prompt Tuning": (
        "prompt tuning", "prompt learning", "soft prompt", "prefix tuning", "prompt optimization",
    ),
    "Model Tuning > Input engineering > Instruction Tuning": ("instruction tuning", "instruction tuned"),
    "Database Augmentation > Language Database Augmentation": (
        "retrieval augmented", "retrieval augmentation", "rag",
    ),
    "Database Augmentation > Multimodal Database Augmentation": (
        "multimodal retrieval", "multimodal rag", "visual rag", "multimodal retrieval augmented",
    ),
    "Model Distillation > Noise Optimization": ("data free distillation", "data free knowledge distillation"),
    "Model Distillation > Generative Reconstruction": ("knowledge distillation", "distillation"),
    "Model Distillation > Adversarial Exploration": ("adversarial distillation",),
    "Model Reuse > Model Ensemble": ("model ensemble", "llm ensemble", "ensemble", "ensembling"),
    "Model Reuse > Model Fusion > Survey Paper": ("model fusion survey", "model merging survey"),
    "Model Reuse > Model Fusion > Weight Interpolation": (
        "weight interpolation", "model merging", "model soup", "model soups", "task arithmetic", "merging models",
    ),
    "Model Reuse > Model Fusion > Mode Connectivity Based Method": ("mode connectivity",),
    "Model Reuse > Model Fusion > Straightforward Optimization": ("model fusion", "weight averaging"),
    "Model Reuse > Model Fusion > MoE Based Method (Model MoErging)": ("mixture of experts", "moe", "moerging"),
    "Model Reuse > Model Fusion > Benchmark/Evaluation": ("merging benchmark",),
    "Meta Learning > White-box Data-free Meta-learning": ("data free meta learning",),
    "Meta Learning > Black-box Data-free Meta-learning": ("meta learning", "learning to learn"),
    "Model Editing > Memory Based Model Editing": ("knowledge editing", "memory based editing"),
    "Model Editing > Parameter Based Model Editing > Constrained Tuning": ("constrained fine tuning",),
    "Model Editing > Parameter Based Model Editing > Locate And Edit": (
        "locate and edit", "locate then edit", "knowledge neurons",
    ),
    "Model Editing > Parameter Based Model Editing > Meta Learning": ("model editing", "hypernetwork editing"),
}
TITLE_WEIGHT = 2  # a keyword in the title counts twice, as auto-updaters that match titles first
_WORDISH = re.compile(r"[-_/]+")


def _norm(text: str) -> str:
    return _WORDISH.sub(" ", text.lower())


def _prediction(best: str | None, score: float, relevant: bool, ranked: list[tuple[str, float]],
                why: list[str]) -> dict[str, Any]:
    return {
        "relevant": relevant,
        "score": round(score, 6),
        "section": best,
        "section_score": round(score, 6),
        "sections": [[s, round(v, 6)] for s, v in ranked[:3]],
        "why": why,
    }


@dataclass
class KeywordBaseline:
    """Keyword matching per section; score rises with the number of keyword hits (title hits count double)."""

    keywords: dict[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        phrases = sorted({k for ks in self.keywords.values() for k in ks}, key=lambda k: (-len(k), k))
        # One alternation, longest phrase first, so "knowledge distillation" wins over "distillation".
        self._regex = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b")
        self._owners: dict[str, list[str]] = {}
        for section, ks in self.keywords.items():
            for k in ks:
                self._owners.setdefault(k, []).append(section)
        self._order = {s: i for i, s in enumerate(self.keywords)}

    def predict(self, papers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Prediction fields per paper: relevant when any keyword matches; section with the most hits."""
        out = []
        for p in papers:
            hits: dict[str, float] = {}
            words: list[str] = []
            for text, weight in ((str(p.get("title") or ""), TITLE_WEIGHT), (str(p.get("abstract") or ""), 1)):
                for m in self._regex.finditer(_norm(text)):
                    kw = m.group(0)
                    if kw not in words:
                        words.append(kw)
                    for section in self._owners[kw]:
                        hits[section] = hits.get(section, 0) + weight
            ranked = sorted(hits.items(), key=lambda kv: (-kv[1], self._order[kv[0]]))
            total = sum(hits.values())
            best = ranked[0][0] if ranked else None
            # Squash hit counts into (0, 1) so selection floors and ordering behave as for the model.
            out.append(_prediction(best, 1.0 - 1.0 / (1.0 + total), bool(ranked), ranked, words[:5]))
        return out


def keyword_baseline(sections: Iterable[str] | None = None) -> KeywordBaseline:
    """The keyword table restricted to `sections` (all of KEYWORDS when None)."""
    wanted = None if sections is None else set(sections)
    table = {s: k for s, k in KEYWORDS.items() if wanted is None or s in wanted}
    if not table:
        raise ModelError("no keyword section matches the list's sections", "check --readme or the labels' sections")
    return KeywordBaseline(table)


@dataclass
class SvmBaseline:
    """tf-idf + one LinearSVC per section (arxiv-sanity-lite); relevant when some section's decision is > 0."""

    vectorizer: Any
    sections: list[str]
    coef: Any  # (n_features, n_sections)
    intercept: Any  # (n_sections,)

    def predict(self, papers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Prediction fields per paper; score is the sigmoid of the best section's decision value."""
        import numpy as np

        if not papers:
            return []
        X = self.vectorizer.transform([f"{p.get('title') or ''} {p.get('abstract') or ''}" for p in papers])
        d = np.asarray(X @ self.coef) + self.intercept
        order = np.argsort(-d, axis=1, kind="stable")[:, :3]
        out = []
        for i in range(d.shape[0]):
            ranked = [(self.sections[int(j)], 1.0 / (1.0 + math.exp(-float(d[i, j])))) for j in order[i]]
            best = float(d[i, order[i, 0]])
            out.append(_prediction(ranked[0][0], ranked[0][1], best > 0.0, ranked, []))
        return out


def fit_svm_baseline(
    positives: Sequence[tuple[Mapping[str, Any], str]], negatives: Sequence[Mapping[str, Any]], *, seed: int = 0,
    C: float = 0.01,
) -> SvmBaseline:
    """Fit arxiv-sanity-lite's per-section SVMs: positives are (paper, section) pairs from the list itself."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    sections = sorted({s for _, s in positives})
    if not sections or not negatives:
        raise ModelError(
            f"the tf-idf baseline needs list entries and negatives (got {len(positives)} and {len(negatives)})",
            "give labels whose source_list is the target list (or --readme) and a corpus that starts before --from",
        )
    # One row per paper; a paper filed under two sections is a positive of both.
    texts: dict[str, str] = {}
    secs: dict[str, set[str]] = {}
    for paper, section in positives:
        pid = str(paper["id"])
        texts.setdefault(pid, f"{paper.get('title') or ''} {paper.get('abstract') or ''}")
        secs.setdefault(pid, set()).add(section)
    for paper in negatives:
        texts.setdefault(str(paper["id"]), f"{paper.get('title') or ''} {paper.get('abstract') or ''}")
    ids = sorted(texts)
    # arxiv-sanity-lite's vectoriser settings (its min_df=5 assumes a large library; 2 suits a few thousand papers).
    vec = TfidfVectorizer(
        strip_accents="unicode", lowercase=True, analyzer="word", stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b", ngram_range=(1, 2), max_features=20000,
        norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=True, max_df=0.1, min_df=2, dtype=np.float32,
    )
    X = vec.fit_transform([texts[i] for i in ids])
    coef = np.zeros((X.shape[1], len(sections)), dtype=np.float64)
    intercept = np.zeros(len(sections))
    for j, section in enumerate(sections):
        y = np.array([section in secs.get(i, ()) for i in ids], dtype=int)
        clf = LinearSVC(class_weight="balanced", C=C, max_iter=10000, tol=1e-6, random_state=seed)
        clf.fit(X, y)
        coef[:, j], intercept[j] = clf.coef_[0], clf.intercept_[0]
    return SvmBaseline(vec, sections, coef, intercept)


# --- reading the inputs ------------------------------------------------------------------------------------


def load_corpus(
    path: str | Path, categories: Sequence[str] = (), until: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """(papers in `categories` released on or before `until`, sorted by day then id; count of bad lines)."""
    cats = set(categories)
    papers: list[dict[str, Any]] = []
    bad = 0
    for _, obj in read_jsonl(path):
        if not isinstance(obj, dict) or not obj.get("id") or not obj.get("title"):
            bad += 1
            continue
        day = paper_day(obj)
        if day is None or (until and day > until):
            continue
        if cats and not cats.intersection(obj.get("categories") or ()):
            continue
        # Keep only what classify and select read: six months of papers stay well under 1 GB.
        slim = {k: obj.get(k) for k in PAPER_FIELDS}
        slim["id"], slim["day"] = str(obj["id"]), day
        papers.append(slim)
    papers.sort(key=lambda p: (p["day"], p["id"]))
    return papers, bad


def load_labels(path: str | Path) -> dict[str, list[Label]]:
    """Label rows by paper id (a paper may have several rows when source lists disagree)."""
    out: dict[str, list[Label]] = defaultdict(list)
    for n, obj in read_jsonl(path):
        if not isinstance(obj, dict) or not obj.get("id") or not obj.get("section"):
            raise InputError(f"{path}:{n}: a label needs `id` and `section`", "fix or remove that line")
        out[str(obj["id"])].append(
            Label(
                id=str(obj["id"]),
                section=str(obj["section"]),
                precision="top" if obj.get("precision") == "top" else "leaf",
                listed=obj.get("listed"),
                source_list=obj.get("source_list"),
                title=obj.get("title"),
                abstract=obj.get("abstract"),
            )
        )
    return dict(out)


# --- training data cut at a day ---------------------------------------------------------------------------


def negatives_until(papers: Sequence[Mapping[str, Any]], until: str, exclude: Iterable[str]) -> list[Mapping[str, Any]]:
    """Corpus papers released on or before `until` that are not in `exclude` (the labelled ids), in corpus order."""
    skip = set(exclude)
    return [p for p in papers if str(p.get("day") or "") <= until and str(p["id"]) not in skip]


def list_positives(
    labels: Mapping[str, Sequence[Label]], texts: Mapping[str, Mapping[str, Any]], until: str, list_repo: str,
    readme_entries: Sequence[tuple[str, str, str]] = (),
) -> list[tuple[dict[str, Any], str]]:
    """(paper, section) of the list's own entries known by `until`: label rows from `list_repo` and README entries.

    `texts` maps ids to papers with title/abstract (labels file rows, corpus papers); entries without any known
    text are dropped, as arxiv-sanity-lite can only rank papers it has text for.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for pid, label_rows in sorted(labels.items()):
        for r in label_rows:
            if r.source_list == list_repo and released_by(pid, r.listed, until):
                rows[(pid, r.section)] = {"id": pid}
    for pid, section, title in readme_entries:
        if released_by(pid, None, until):
            rows.setdefault((pid, section), {"id": pid, "title": title})
    out = []
    for (pid, section), paper in sorted(rows.items()):
        known = texts.get(pid) or {}
        title = str(known.get("title") or paper.get("title") or "")
        if title:
            out.append(({"id": pid, "title": title, "abstract": known.get("abstract") or ""}, section))
    return out


def model_examples(
    label_path: str | Any, labels: Mapping[str, Sequence[Label]], papers: Sequence[Mapping[str, Any]], until: str,
    readme_entries: Sequence[tuple[str, str, str]] = (), reviewed_path: str | Any | None = None,
) -> tuple[list[Any], dict[str, int]]:
    """TrainingExamples for `lfmwatch.model.fit.fit_model`: labels, README entries, reviewed papers and negatives
    known by `until`; returns them and the count per kind.

    Labelled or reviewed papers released after `until` are left out entirely (not even as negatives), so the
    replay period only ever contributes what the simulated reviewer feeds back.
    """
    from lfmwatch.model.examples import example, fill_texts, mark_stream
    from lfmwatch.model.readers import label_examples, reviewed_examples

    day_of = {str(p["id"]): str(p.get("day") or "") for p in papers}
    keep = {pid for pid, rows in labels.items() if released_by(pid, rows[0].listed or day_of.get(pid), until)}
    rows = [ex for ex in label_examples(label_path) if ex.id in keep]
    rows += [example(pid, title, None, section, "list") for pid, section, title in readme_entries
             if released_by(pid, day_of.get(pid), until)]
    reviewed = reviewed_examples(reviewed_path) if reviewed_path is not None else []
    rows += [ex for ex in reviewed if released_by(ex.id, day_of.get(ex.id), until)]
    wanted = {ex.id for ex in rows}
    # Text: the corpus first, then the labels file's own title/abstract for papers the corpus lacks.
    known: dict[str, Mapping[str, Any]] = {str(p["id"]): p for p in papers if str(p["id"]) in wanted}
    for pid in wanted - set(known):
        r = labels.get(pid)
        if r and any(x.abstract for x in r):
            known[pid] = {"title": r[0].title, "abstract": next(x.abstract for x in r if x.abstract)}
    rows, _ = fill_texts(rows, known)
    # Labelled papers released in the training period are part of the stream the negatives come from.
    rows = mark_stream(rows, {pid for pid, day in day_of.items() if day and day <= until})
    skip = set(labels) | {ex.id for ex in reviewed}
    negatives = [example(str(p["id"]), p.get("title"), p.get("abstract"), None, "negative")
                 for p in negatives_until(papers, until, skip)]
    counts: dict[str, int] = {}
    for ex in rows + negatives:
        counts[ex.kind] = counts.get(ex.kind, 0) + 1
    return rows + negatives, dict(sorted(counts.items()))


FEEDBACK_KINDS = {"accepted": "feedback_accepted", "moved": "feedback_moved", "rejected": "feedback_rejected"}


def feedback_to_examples(feedback: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The simulated reviewer's decisions as TrainingExamples (the store's feedback kinds)."""
    from lfmwatch.model.examples import example

    return [
        example(str(f["id"]), f.get("title"), f.get("abstract"),
                f.get("section") if f["label"] != "rejected" else None, FEEDBACK_KINDS[f["label"]])
        for f in feedback
    ]


# --- the whole command ---------------------------------------------------------------------------------------


def _check_day(value: str, flag: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise InputError(f"{flag} {value!r} is not a date", "write dates as YYYY-MM-DD") from exc


def backtest_from_files(
    config: Any, *, corpus: str | Path, start: str, end: str, labels: str | Path | None = None, per_day: int = 10,
    train_until: str | None = None, review_every: int = 0, readme: str | Path | None = None,
    reviewed: str | Path | None = None, model_path: str | Path | None = None, seed: int = 0,
    log: Callable[[str], None] = lambda _: None,
) -> BacktestResult:
    """The `lfmwatch backtest` command as a function: read the files, build the systems, replay, score."""
    import random
    import time

    from lfmwatch.awesome import parse_list

    start, end = _check_day(start, "--from"), _check_day(end, "--to")
    if start > end:
        raise InputError(f"--from {start} is after --to {end}", "give a period that starts before it ends")
    if per_day < 1:
        raise InputError("--per-day must be at least 1")
    if train_until is not None and _check_day(train_until, "--train-until") >= start:
        raise InputError(f"--train-until {train_until} is not before --from {start}",
                         "train on days before the replayed period, or the backtest would grade what it learned")
    if review_every and labels is None:
        raise InputError("--review needs --labels", "the simulated reviewer judges proposals by the labels")
    until = train_until or day_before(start)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    papers, bad = load_corpus(corpus, config.arxiv.categories, end)
    days = split_days(papers, start, end)
    if not days:
        raise InputError(f"{corpus}: no paper in {', '.join(config.arxiv.categories)} released {start}..{end}",
                         "check --from/--to against the corpus's `listed` days and arxiv.categories")
    label_rows = load_labels(labels) if labels is not None else {}
    timings["load corpus and labels"] = time.perf_counter() - t0
    log(f"corpus: {sum(len(p) for _, p in days)} papers over {len(days)} days ({bad} bad lines)")
    entries: list[tuple[str, str, str]] = []
    if readme is not None:
        from lfmwatch.model.examples import readme_entries
        from lfmwatch.model.readers import read_readme

        text = read_readme(readme)
        entries, _ = readme_entries(text, config.target.exclude_sections)
    # The lfmwatch model: trained on data known by --train-until, or the configured one as it is.
    t0 = time.perf_counter()
    train_rows: list[Any] = []
    if train_until is not None or review_every:
        if labels is None:
            raise InputError("--train-until needs --labels", "the model is trained on the labels known by that day")
        train_rows, kinds = model_examples(labels, label_rows, papers, until, entries, reviewed)
        log(f"training examples up to {until}: {kinds}")
    from lfmwatch.model.fit import FitOptions, fit_model

    def fit(rows: list[Any]) -> Any:
        return fit_model(rows, target_precision=config.model.target_precision, options=FitOptions(seed=seed))

    if train_until is not None:
        model = fit(train_rows)
        timings["train lfmwatch"] = time.perf_counter() - t0
    else:
        from lfmwatch.model.io import load_model

        model = load_model(model_path or config.model.path)
    if config.model.threshold >= 0:
        model.threshold = config.model.threshold
    # The list the selection dedupes against; without a README, one holding exactly the known sections.
    known_sections = set(model.sections) | {r.section for rows in label_rows.values() for r in rows}
    if readme is not None:
        lst = parse_list(text, config.target.exclude_sections)
    else:
        lst = parse_list(sections_markdown(known_sections))
    select = make_selector(lst, config.select.min_score, config.select.max_per_section)
    # Baselines, trained only on what was known by `until`.
    t0 = time.perf_counter()
    # Text of the list's entries: the labels' own title/abstract, else the corpus's.
    texts: dict[str, dict[str, Any]] = {
        pid: {"title": rows[0].title, "abstract": next((r.abstract for r in rows if r.abstract), None)}
        for pid, rows in label_rows.items()
    }
    for p in papers:
        known = texts.get(str(p["id"]))
        if known is not None and not known.get("abstract"):
            known.update(title=known.get("title") or p.get("title"), abstract=p.get("abstract"))
    positives = list_positives(label_rows, texts, until, config.target.repo, entries)
    negatives = list(negatives_until(papers, until, label_rows))
    random.Random(seed).shuffle(negatives)
    systems: dict[str, Ranker] = {"lfmwatch": model, "keywords": keyword_baseline(lst.paper_sections())}
    if positives:
        systems["tf-idf + LinearSVC"] = fit_svm_baseline(positives, negatives[:20000], seed=seed)
    else:
        log("no list entries known before the period: the tf-idf + LinearSVC baseline is skipped")
    timings["train baselines"] = time.perf_counter() - t0

    def retrain(feedback: list[dict[str, Any]]) -> Ranker:
        log(f"review: retraining with {len(feedback)} feedback rows")
        return fit(train_rows + feedback_to_examples(feedback))

    params = {
        "corpus": str(corpus), "from": start, "to": end, "labels": str(labels) if labels else None,
        "per_day": per_day, "train_until": train_until, "review": review_every or None,
        "readme": str(readme) if readme else None,
        "reviewed": str(reviewed) if reviewed else None,
        "model": model.version, "threshold": round(model.threshold, 6),
        "categories": list(config.arxiv.categories), "papers": sum(len(p) for _, p in days), "days": len(days),
        "list_positives": len(positives), "seed": seed,
        "threshold_rule": "model.threshold (configured)" if config.model.threshold >= 0 else model.card.get("threshold_rule"),
        "target_precision": model.card.get("target_precision"),
        "stream_pu": model.card.get("stream_pu"),
    }
    listed_ids = {e.arxiv_id for e in lst.entries if e.arxiv_id}
    # Reviewer verdicts on papers of the period: never trained on (cut at `until`), so a fair precision check.
    replayed = {str(p["id"]) for _, ps in days for p in ps}
    verdicts = {} if reviewed is None else {
        str(o["id"]): bool(o.get("include")) for _, o in read_jsonl(reviewed)
        if isinstance(o, dict) and str(o.get("id")) in replayed
    }
    from lfmwatch.backtest.store_replay import replay_store

    def through_store() -> tuple[list[Any], list[list[dict[str, Any]]]]:
        proposals, cands, totals = replay_store(days, model, lst, config, per_day)
        params["store_replay"] = totals
        return proposals, cands

    result = run_backtest(days, systems, select, label_rows, per_day=per_day, listed_ids=listed_ids,
                          review_every=review_every, retrain=retrain, params=params, reviewed=verdicts,
                          replay=through_store)
    result.timings = {**timings, **result.timings}
    return result
