"""Fitting the model: relevance (logistic regression, cross-validated calibration and threshold) and sections.

Relevance is positive-unlabelled learning: the negatives are simply papers nobody labelled, and a few of them
belong in the list. We handle that knowingly: unlabelled papers get a lower weight than labelled ones, and after a
first cross-validated round the unlabelled papers that score like positives ("spies") are dropped from the
negatives before the final fit. Reviewed excludes and rejected proposals are hard negatives with a higher weight.
Calibration is isotonic regression on out-of-fold scores, corrected from the training class balance to the
stream's (labelled papers are over-represented in training); the threshold is the lowest score whose estimated
precision on the stream reaches the target, counting the unlabelled papers that are relevant after all, or lower
where enough maintainer-reviewed hard cases show the target precision there: see `lfmwatch.model.thresholds`.
Sections are hierarchical: an area classifier over all positives (top-precision labels included) and a leaf
classifier over examples whose leaf is exact; P(leaf) = P(area) * P(leaf | area).
"""

from __future__ import annotations

import hashlib
import logging
import platform
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from lfmwatch.errors import ModelError
from lfmwatch.ids import new_id_month
from lfmwatch.model.classifier import LfmModel, combine_stages, sklearn_version
from lfmwatch.model.examples import (
    FEEDBACK_KINDS,
    HARD_NEGATIVE_KINDS,
    JUDGED_KINDS,
    LEAF_KINDS,
    POSITIVE_KINDS,
    RANDOM_LABEL_KINDS,
    TrainingExample,
)
from lfmwatch.model.thresholds import (
    calibration_curve,
    choose_threshold,
    judged_calibration,
    reviewed_threshold,
    reviewed_veto,
    stream_pu_threshold,
    unlabelled_fp_share,
    with_kinds,
)
from lfmwatch.records import area_of, utcnow

log = logging.getLogger(__name__)


@dataclass
class FitOptions:
    """Hyper-parameters of fit_model (defaults chosen on the time-split benchmark)."""

    c_relevance: float = 4.0
    negative_weight: float = 0.5  # unlabelled papers: mostly, not surely, negatives
    hard_negative_weight: float = 3.0  # multiplier on reviewed/rejected negatives' own weight
    # Multiplier on judged positives, the band a model missed (out of fold over the 1,000 reviewed papers:
    # precision at 0.6 recall 0.923 -> 0.936, recall at 0.9 precision 0.66 -> 0.70).
    judged_positive_weight: float = 3.0
    area_balance: float = 0.0  # 0..1: positives weighted by (mean area size / their area's size) ** area_balance
    spy_quantile: float = 1.0  # < 1: drop unlabelled papers scoring above this quantile of positives (spies)
    recent_weight: float = 3.0  # multiplier for positives from the last `recent_months` of the training data
    recent_months: int = 18
    title_weight: float = 0.5  # relevance: weight of the title block against the title + abstract block
    section_title_weight: float = 0.5  # the same for the area and leaf models
    title_roles: bool = True  # title-role tokens: "merging for X" vs "X via merging" (features.title_roles)
    stage2_negatives: int = 3000  # unlabelled papers (highest stage-1 scores) in the precision stage; 0 = off
    c_stage2: float = 1.0
    judge_stage: bool = False  # a third stage: positives against judged negatives only (what reviewers exclude)
    c_judge: float = 1.0
    c_area: float = 10.0
    c_leaf: float = 100.0  # with leaf_balanced: cross-validated leaf accuracy 0.725 -> 0.744 (MoE, Mode Connectivity)
    min_df: tuple[int, int] = (2, 2)
    min_df_keep: int = 5  # keep a column if this many documents have it ...
    min_pos_df_keep: int = 2  # ... or this many positives
    folds: int = 3
    max_unlabelled: int = 30000  # seeded sample of unlabelled negatives (time/memory budget; the benchmark has 28.6k)
    stream_prior: float = 0.01  # share of relevant papers in the stream, for the calibrated probability
    leaf_min: float = 0.4
    area_balanced: bool = True  # class-balanced area model (cross-validated top level 0.894 instead of 0.880)
    leaf_balanced: bool = True  # class-balanced leaf model(s): a small leaf is not swamped by a big sibling
    leaf_per_area: bool = False  # one leaf model per area instead of one over all leaves
    seed: int = 0


def dedupe(examples: Sequence[TrainingExample]) -> tuple[list[TrainingExample], Any, Any]:
    """One example per paper for relevance: (papers, y, weight). Hard negatives override labels of no list entry."""
    import numpy as np

    by_id: dict[str, list[TrainingExample]] = {}
    for ex in examples:
        by_id.setdefault(ex.id, []).append(ex)
    papers, y, w = [], [], []
    for rows in by_id.values():
        kinds = {r.kind for r in rows}
        text = max(rows, key=lambda r: len(r.abstract) + len(r.title))
        if not text.stream and any(r.stream for r in rows):
            text = replace(text, stream=True)
        if kinds & HARD_NEGATIVE_KINDS and not kinds & {"list", "feedback_accepted", "feedback_moved"}:
            label, weight = 0, max(r.weight for r in rows if r.kind in HARD_NEGATIVE_KINDS)
        elif kinds & POSITIVE_KINDS:
            label, weight = 1, max(r.weight for r in rows if r.kind in POSITIVE_KINDS)
        else:
            label, weight = -1, max(r.weight for r in rows)  # unlabelled
        papers.append(text)
        y.append(label)
        w.append(weight)
    return papers, np.asarray(y), np.asarray(w, dtype=np.float64)


def _judged(examples: Sequence[TrainingExample], papers: Sequence[TrainingExample]) -> Any:
    """Per paper: it was picked by a model's score before it was judged (not a label independent of the bot)."""
    # A proposal the maintainers merged is in the README too ("list"), but the bot picked it: still judged.
    # A reviewed paper that a curated list also holds keeps its independent label.
    return with_kinds(examples, papers, FEEDBACK_KINDS) | (
        with_kinds(examples, papers, JUDGED_KINDS) & ~with_kinds(examples, papers, RANDOM_LABEL_KINDS))


def _area_balance(examples: Sequence[TrainingExample], papers: Sequence[TrainingExample], y: Any,
                  power: float) -> Any:
    """Per paper, a weight factor that evens out the areas among the positives (1 for other papers).

    The labels over-represent some areas (model merging has curated lists of its own); without this, relevance
    learns that area's vocabulary best and the others' genuine papers score low.
    """
    import numpy as np

    area: dict[str, str] = {}
    for ex in examples:
        if ex.positive and ex.section:
            area.setdefault(ex.id, area_of(ex.section))
    names = [area.get(p.id, "") if label == 1 else "" for p, label in zip(papers, y.tolist(), strict=True)]
    sizes = Counter(n for n in names if n)
    if not sizes:
        return np.ones(len(papers))
    mean = sum(sizes.values()) / len(sizes)
    return np.array([(mean / sizes[n]) ** power if n else 1.0 for n in names])


def _logreg(C: float, seed: int, balanced: bool = True) -> Any:
    from sklearn.linear_model import LogisticRegression

    # liblinear: fast on sparse binary problems of this size, deterministic with a fixed seed.
    return LogisticRegression(C=C, solver="liblinear", max_iter=200, random_state=seed,
                              class_weight="balanced" if balanced else None)


def _month_index(pid: str) -> int | None:
    """Months since 2000 of a new-style arXiv id (2405.01234 -> 24*12+5), None for old-style ids."""
    issued = new_id_month(pid)
    return (issued[0] - 2000) * 12 + issued[1] if issued else None


def fit_relevance(X: Any, y: Any, w: Any, opts: FitOptions, ids: Sequence[str] = ()) -> tuple[Any, Any, Any, Any]:
    """Fit the relevance stages; returns (coef (n_features, k), intercepts (k,), out-of-fold raw scores, used rows).

    Stage 1 separates positives from everything else. Stage 2 (the "precision" model) is trained only on the hard
    cases: positives against reviewed/rejected papers and the unlabelled papers stage 1 scores highest, so it
    learns what tells a list paper from one that merely uses fine-tuning, RAG or distillation. A paper's raw score
    is log P1 + log P2: it must pass both.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    target = (y == 1).astype(int)
    weight = np.where(y == -1, w * opts.negative_weight, np.where(y == 0, w * opts.hard_negative_weight, w))
    months = [_month_index(i) for i in ids] if len(ids) == len(y) else []
    known = [m for m in months if m is not None]
    if known and opts.recent_weight != 1.0:
        # Recent positives say most about what the list takes today (and use today's vocabulary).
        newest = max(known)
        recent = np.array([m is not None and m > newest - opts.recent_months for m in months])
        weight = np.where((target == 1) & recent, weight * opts.recent_weight, weight)
    skf = StratifiedKFold(n_splits=opts.folds, shuffle=True, random_state=opts.seed)
    folds = list(skf.split(np.zeros(len(y)), target))
    s1 = np.zeros(len(y))
    for tr, te in folds:
        s1[te] = _logreg(opts.c_relevance, opts.seed).fit(X[tr], target[tr], sample_weight=weight[tr]).decision_function(X[te])
    used = np.ones(len(y), dtype=bool)
    if opts.spy_quantile < 1.0:
        cut = np.quantile(s1[target == 1], opts.spy_quantile)
        spies = (y == -1) & (s1 >= cut)
        log.info("dropping %d unlabelled papers that score like positives", int(spies.sum()))
        used &= ~spies
    final1 = _logreg(opts.c_relevance, opts.seed).fit(X[used], target[used], sample_weight=weight[used])
    coefs, icpts = [final1.coef_.ravel()], [float(final1.intercept_[0])]
    raw = s1
    if opts.stage2_negatives > 0:
        unl = np.flatnonzero((y == -1) & used)
        hard = np.zeros(len(y), dtype=bool)
        hard[unl[np.argsort(-s1[unl])[: opts.stage2_negatives]]] = True
        hard |= (target == 1) | (y == 0)
        s2 = np.zeros(len(y))
        for tr, te in folds:
            tr = tr[hard[tr]]
            clf = _logreg(opts.c_stage2, opts.seed, balanced=False).fit(X[tr], target[tr], sample_weight=weight[tr])
            s2[te] = clf.decision_function(X[te])
        final2 = _logreg(opts.c_stage2, opts.seed, balanced=False).fit(X[hard], target[hard], sample_weight=weight[hard])
        coefs.append(final2.coef_.ravel())
        icpts.append(float(final2.intercept_[0]))
        raw = combine_stages(np.column_stack([s1, s2]))
    judged = (target == 1) | (y == 0)
    if opts.judge_stage and (y == 0).sum() >= opts.folds and judged.sum() > (y == 0).sum():
        # The judge: no unlabelled papers at all (many of the highest-scoring ones belong after all), only what
        # a reviewer or maintainer excluded against what the lists hold; class-balanced, so the few exclusions
        # teach what "merely applies fine-tuning, RAG or distillation" looks like.
        s3 = np.zeros(len(y))
        for tr, te in folds:
            tr = tr[judged[tr]]
            s3[te] = _logreg(opts.c_judge, opts.seed).fit(X[tr], target[tr]).decision_function(X[te])
        final3 = _logreg(opts.c_judge, opts.seed).fit(X[judged], target[judged])
        coefs.append(final3.coef_.ravel())
        icpts.append(float(final3.intercept_[0]))
        raw = combine_stages(np.column_stack([s1, s2, s3] if len(coefs) > 2 else [s1, s3]))
    return np.vstack(coefs).T.astype(np.float32), np.array(icpts), raw, used


def title_scaled(X: Any, vocab: Any, weight: float) -> tuple[Any, Any]:
    """(X with the title block scaled by `weight`, the column scale): the title counts less (measured)."""
    import numpy as np
    import scipy.sparse as sp

    scale = np.ones(X.shape[1], dtype=np.float32)
    scale[: vocab.offsets[1]] = weight
    return (X @ sp.diags(scale)).tocsr(), scale


def _section_model(X: Any, labels: Sequence[str], C: float, seed: int,
                   balanced: bool = False) -> tuple[Any, Any, list[str]]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    classes = sorted(set(labels))
    if len(classes) == 1:
        # One class: constant probability 1 (a softmax over one logit).
        return np.zeros((X.shape[1], 1), dtype=np.float32), np.zeros(1), classes
    clf = LogisticRegression(C=C, max_iter=300, random_state=seed, class_weight="balanced" if balanced else None)
    clf.fit(X, np.asarray(labels))
    coef, icpt = clf.coef_, clf.intercept_
    if len(classes) == 2:  # binary LR has one row: expand to two logits
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        icpt = np.array([-icpt[0] / 2, icpt[0] / 2])
    return coef.T.astype(np.float32), icpt.astype(np.float64), [str(c) for c in clf.classes_]


def section_training_sets(examples: Sequence[TrainingExample]) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """(area examples, leaf examples): every positive with a section trains the area, exact leaves the leaf."""
    seen_area: set[tuple[str, str]] = set()
    seen_leaf: set[tuple[str, str]] = set()
    area_rows, leaf_rows = [], []
    for ex in examples:
        if not ex.positive or not ex.section:
            continue
        key = (ex.id, area_of(ex.section))
        if key not in seen_area:
            seen_area.add(key)
            area_rows.append(ex)
        if ex.kind in LEAF_KINDS and (ex.id, ex.section) not in seen_leaf:
            seen_leaf.add((ex.id, ex.section))
            leaf_rows.append(ex)
    return area_rows, leaf_rows


def fit_sections(vocab: Any, area_rows: Sequence[TrainingExample], leaf_rows: Sequence[TrainingExample],
                 opts: FitOptions) -> dict[str, Any]:
    """Area and leaf classifiers as LfmModel fields (areas, area_coef, area_intercept, leaves, leaf_coef, ...)."""
    import numpy as np

    n = vocab.n_features
    # The title block weighs section_title_weight here too (cross-validated top level 0.894 -> 0.903, leaf
    # 0.743 -> 0.755 at 0.5): a title names the method's area, the abstract says which variant of it.
    Xa, scale = title_scaled(vocab.transform([{"title": e.title, "abstract": e.abstract} for e in area_rows]), vocab,
                             opts.section_title_weight)
    area_coef, area_icpt, areas = _section_model(Xa, [area_of(e.section or "") for e in area_rows], opts.c_area,
                                                 opts.seed, opts.area_balanced)
    if leaf_rows and opts.leaf_per_area:
        # One leaf model per area, trained on that area's examples only (prediction takes a softmax within each
        # area's columns anyway): a small leaf is told apart from its siblings, not from the whole list.
        Xl, _ = title_scaled(vocab.transform([{"title": e.title, "abstract": e.abstract} for e in leaf_rows]), vocab,
                             opts.section_title_weight)
        parts = []
        for area in sorted({area_of(e.section or "") for e in leaf_rows}):
            rows = [i for i, e in enumerate(leaf_rows) if area_of(e.section or "") == area]
            parts.append(_section_model(Xl[rows], [leaf_rows[i].section or "" for i in rows], opts.c_leaf, opts.seed,
                                        opts.leaf_balanced))
        leaf_coef = np.hstack([c for c, _, _ in parts])
        leaf_icpt = np.concatenate([i for _, i, _ in parts])
        leaves = [leaf for _, _, names in parts for leaf in names]
    elif leaf_rows:
        Xl, _ = title_scaled(vocab.transform([{"title": e.title, "abstract": e.abstract} for e in leaf_rows]), vocab,
                             opts.section_title_weight)
        leaf_coef, leaf_icpt, leaves = _section_model(Xl, [e.section or "" for e in leaf_rows], opts.c_leaf, opts.seed,
                                                      opts.leaf_balanced)
    else:
        leaf_coef, leaf_icpt, leaves = np.zeros((n, 0), np.float32), np.zeros(0), []
    # An area without any exact leaf example still needs a leaf to name: the area heading itself.
    for area in areas:
        if not any(leaf == area or leaf.startswith(area + " > ") for leaf in leaves):
            leaves.append(area)
            leaf_coef = np.hstack([leaf_coef, np.zeros((n, 1), np.float32)])
            leaf_icpt = np.append(leaf_icpt, 0.0)
    # Leaves whose area the area model never saw cannot be predicted: drop them.
    keep_leaf = [i for i, leaf in enumerate(leaves) if area_of(leaf) in areas]
    return {
        # Coefficients fitted on scaled columns == scaled coefficients on the plain features used at inference.
        "areas": areas, "area_coef": area_coef * scale[:, None], "area_intercept": area_icpt,
        "leaves": [leaves[i] for i in keep_leaf], "leaf_coef": leaf_coef[:, keep_leaf] * scale[:, None],
        "leaf_intercept": leaf_icpt[keep_leaf],
    }


def data_hash(examples: Sequence[TrainingExample]) -> str:
    """Hash of the training data (ids, kinds, sections, weights and text), order-independent."""
    h = hashlib.sha256()
    for row in sorted(f"{e.id}\t{e.kind}\t{e.section}\t{e.weight}\t{e.title}\t{e.abstract}" for e in examples):
        h.update(row.encode("utf-8"))
    return h.hexdigest()[:16]


@dataclass
class RelevanceInputs:
    """What the relevance stages train on: one row per paper, its label and weight, and the features."""

    papers: list[TrainingExample]
    y: Any  # 1 positive, 0 hard negative, -1 unlabelled
    w: Any  # example weights (before the per-kind multipliers of fit_relevance)
    vocab: Any  # the fitted, restricted Vocabulary
    X: Any  # features of `papers`, title block scaled (title_scaled)
    scale: Any  # the column scale: coefficients fitted on X are multiplied by it for inference
    judged: Any  # per paper: picked by a model's score before it was judged (_judged)
    seen: int  # unlabelled stream papers the unlabelled examples stand for
    unlabelled_available: int  # unlabelled papers before the seeded sample


def relevance_inputs(examples: Sequence[TrainingExample], opts: FitOptions,
                     unlabelled_seen: int | None = None) -> RelevanceInputs:
    """Deduplicate, sample the unlabelled papers, weight the judged positives, fit the vocabulary and transform."""
    import numpy as np

    from lfmwatch.model.features import fit_vocabulary, restrict

    papers, y, w = dedupe(examples)
    unl = np.flatnonzero(y == -1)
    seen = max(unlabelled_seen or 0, len(unl))
    if len(unl) > opts.max_unlabelled:
        # Keep every labelled paper and a seeded random sample of the unlabelled ones.
        drop = np.random.default_rng(opts.seed).choice(unl, size=len(unl) - opts.max_unlabelled, replace=False)
        keep = np.ones(len(y), dtype=bool)
        keep[drop] = False
        papers = [p for p, k in zip(papers, keep, strict=True) if k]
        y, w = y[keep], w[keep]
    judged = _judged(examples, papers)
    if opts.judged_positive_weight != 1.0:
        w = np.where((y == 1) & judged, w * opts.judged_positive_weight, w)
    if opts.area_balance:
        w = w * _area_balance(examples, papers, y, opts.area_balance)
    n_pos, n_neg = int((y == 1).sum()), int((y != 1).sum())
    if n_pos < 2 or n_neg < 2:
        raise ModelError(
            f"not enough training data: {n_pos} positive and {n_neg} negative papers",
            "give the list's README (--readme) or labels (--labels) and a corpus (--corpus) or a store with papers",
        )
    docs = [{"title": p.title, "abstract": p.abstract} for p in papers]
    vocab = fit_vocabulary(docs, min_df=opts.min_df, roles=opts.title_roles)
    X = vocab.transform(docs)
    # Keep the columns that can matter: common ones and those several positives share; the model stays small
    # and the norms seen in training are the ones computed at inference (we re-transform after restricting).
    df_all = np.bincount(X.indices, minlength=X.shape[1])
    pos_rows = X[np.flatnonzero(y == 1)]
    df_pos = np.bincount(pos_rows.indices, minlength=X.shape[1])
    keep = np.flatnonzero((df_all >= opts.min_df_keep) | (df_pos >= opts.min_pos_df_keep))
    vocab, _ = restrict(vocab, keep)
    del X, pos_rows
    X = vocab.transform(docs)
    log.info("features: %d columns over %d papers (%d positive)", X.shape[1], len(docs), n_pos)
    Xs, scale = title_scaled(X, vocab, opts.title_weight)
    return RelevanceInputs(papers, y, w, vocab, Xs, scale, judged, seen, int(len(unl)))


def fit_model(
    examples: Sequence[TrainingExample],
    *,
    sections: Sequence[str] = (),
    target_precision: float = 0.9,
    options: FitOptions | None = None,
    command: str | None = None,
    extra_card: Mapping[str, Any] | None = None,
    unlabelled_seen: int | None = None,
) -> LfmModel:
    """Train relevance and section models from examples; the card records data, metrics and settings.

    `unlabelled_seen`: how many unlabelled stream papers the `negative` examples were sampled from (default: no
    sampling before this call), so the threshold's stream estimate weighs them right.
    """
    import numpy as np

    opts = options or FitOptions()
    t0 = time.monotonic()
    rel = relevance_inputs(examples, opts, unlabelled_seen)
    papers, y, w, vocab, Xs, scale, seen = rel.papers, rel.y, rel.w, rel.vocab, rel.X, rel.scale, rel.seen
    area_rows, leaf_rows = section_training_sets(examples)
    if not area_rows:
        raise ModelError("no positive example has a section", "labels need a `section` heading path")
    coef, intercept, oof, used = fit_relevance(Xs, y, w, opts, [p.id for p in papers])
    coef = coef * scale[:, None]  # scaling columns for training == scaling their coefficients for inference
    target = (y == 1).astype(int)
    cw = np.where(y == -1, w * opts.negative_weight, w)[used]
    calib_x, calib_y = calibration_curve(oof[used], target[used], cw, opts.stream_prior)
    prob_all = np.interp(oof, calib_x, calib_y)
    fp_share, pu = unlabelled_fp_share(examples, papers, y, oof, used)
    stream_thr, at_thr = choose_threshold(prob_all[used], target[used], cw, target_precision, opts.stream_prior,
                                          fp_share[used])
    # Every stream paper, spies included: dropping the unlabelled papers that look relevant would bias the estimate.
    pu_thr, at_pu = stream_pu_threshold(prob_all, y, np.array([p.stream for p in papers]), target_precision,
                                        seen / max(int((y == -1).sum()), 1), rel.judged)
    rev_thr, at_rev = reviewed_threshold(examples, papers, y, prob_all, used, target_precision)
    # The assumed-base-rate estimate is a fallback: where the stream has enough labelled papers to estimate how
    # many unlabelled ones are relevant, that estimate replaces it; where enough reviewed hard cases show the
    # target precision at a lower score, that direct evidence sets the threshold.
    rules = {"stream": stream_thr} if pu_thr is None else {"stream-pu": pu_thr}
    if rev_thr is not None:
        rules["reviewed"] = rev_thr
    rule = min(rules, key=lambda k: (rules[k], k))
    threshold = rules[rule]
    # Judged papers (reviews and the maintainers' verdicts on proposals) can only raise the cut, whatever set it.
    threshold, veto = reviewed_veto(examples, papers, y, prob_all, used, threshold, target_precision)
    rule += " (raised by reviews)" if veto["raised"] else ""
    # The thresholds are chosen on the stream scale; the probabilities users see come from the judged papers where
    # they speak (same order, same decisions, the threshold mapped along).
    judged_any = with_kinds(examples, papers, JUDGED_KINDS)
    stream_scale_threshold = threshold
    calib_x, calib_y, threshold, judged_cal = judged_calibration(calib_x, calib_y, oof[used], (y == 1)[used],
                                                                 judged_any[used], threshold)
    prob_all = np.interp(oof, calib_x, calib_y)

    leaves_part = fit_sections(vocab, area_rows, leaf_rows, opts)
    areas, leaves = leaves_part["areas"], leaves_part["leaves"]

    all_sections = list(dict.fromkeys([*sections, *(e.section for e in area_rows if e.section)]))
    unpredictable = [s for s in all_sections if s not in leaves and not any(lf.startswith(s + " > ") for lf in leaves)
                     and s not in areas]
    counts = Counter(e.kind for e in examples)
    card: dict[str, Any] = {
        "created": utcnow(),
        "command": command,
        "data": {
            "hash": data_hash(examples),
            "papers": len(papers),
            "positives": int((y == 1).sum()),
            "negatives_used": int(((y != 1) & used).sum()),
            "unlabelled_dropped_as_likely_positive": int(((y == -1) & ~used).sum()),
            "unlabelled_available": rel.unlabelled_available,
            "examples_by_kind": dict(sorted(counts.items())),
            "area_examples": dict(sorted(Counter(area_of(e.section or "") for e in area_rows).items())),
            "leaf_examples": dict(sorted(Counter(e.section for e in leaf_rows).items())),
            "section_examples": dict(sorted(Counter(e.section for e in area_rows).items())),
        },
        "features": {"columns": int(Xs.shape[1]), "tokens": len(vocab.tokens)},
        "libraries": {"scikit-learn": sklearn_version(), "numpy": np.__version__, "python": platform.python_version()},
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opts).items()},
        "target_precision": target_precision,
        "threshold": threshold,
        "threshold_rule": rule,
        "threshold_on_stream_scale": stream_scale_threshold,
        "judged_calibration": judged_cal,
        "stream_threshold": stream_thr,
        "stream_pu_threshold": pu_thr,
        "reviewed_threshold": rev_thr,
        "cv_at_threshold": at_thr,
        "stream_pu": at_pu,
        "judged_veto": veto,
        "reviewed_at_threshold": at_rev,
        "unlabelled_positive_correction": pu,
        "sections": all_sections,
        "predictable_sections": leaves,
        "unpredictable_sections": unpredictable,
        "train_seconds": None,
    }
    # Out-of-fold probabilities of the judged papers: what the quality gate (model/gate.py) compares on.
    card["oof_judged"] = {"ids": [p.id for p, j in zip(papers, judged_any, strict=True) if j],
                          "prob": [round(float(x), 5) for x, j in zip(prob_all, judged_any, strict=True) if j]}
    if extra_card:
        card.update(extra_card)
    model = LfmModel(
        vocab=vocab,
        rel_coef=coef,
        rel_intercept=intercept,
        calib_x=calib_x,
        calib_y=calib_y,
        **leaves_part,
        threshold=threshold,
        sections=all_sections,
        leaf_min=opts.leaf_min,
        card=card,
    )
    card["train_seconds"] = round(time.monotonic() - t0, 1)
    return model
