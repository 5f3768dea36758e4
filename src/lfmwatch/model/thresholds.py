"""Where the relevance threshold goes: calibration and the rules that pick the cut (pure numpy/scikit-learn).

`lfmwatch.model.fit.fit_model` takes the lower of two thresholds, then lets judged papers raise it:

- reviewed (`reviewed_threshold`), when it applies: maintainer-reviewed hard cases, out of fold, reach the target
  precision above the cut with a margin (Wilson lower bound, at least 30 flagged);
- stream-pu (`stream_pu_threshold`): the precision a cut would have had on the stream the unlabelled papers came
  from, counting the unlabelled papers that are relevant after all (positive-unlabelled estimate, no assumed base
  rate); when it has no answer (too few labelled or unlabelled stream papers, an implausible estimate, no cut
  reaching the target), stream (`choose_threshold`) stands in: an assumed share of relevant papers and every
  unlabelled paper counted as (mostly) wrong, conservative, often far too much so;
- then `reviewed_veto`: where even the upper bound of the judged papers' precision above the cut (reviews and the
  maintainers' verdicts on proposals) is below the target, the cut rises to where their precision reaches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lfmwatch.model.examples import JUDGED_KINDS, REVIEWED_KINDS, TrainingExample


def with_kinds(examples: Sequence[TrainingExample], papers: Sequence[TrainingExample], wanted: frozenset[str]) -> Any:
    """Per paper: whether any of its examples is of a `wanted` kind (boolean array)."""
    import numpy as np

    kinds: dict[str, set[str]] = {}
    for e in examples:
        kinds.setdefault(e.id, set()).add(e.kind)
    return np.array([bool(kinds.get(p.id, set()) & wanted) for p in papers], dtype=bool)


def run_ends(ranked: Any) -> Any:
    """Where a run of tied scores ends in a descending ranking: a threshold can only cut there."""
    import numpy as np

    ends = np.ones(len(ranked), dtype=bool)
    ends[:-1] = ranked[:-1] != ranked[1:]
    return ends


def ranked_cumulative(prob: Any, hit: Any, weight: Any = None) -> tuple[Any, Any, Any, Any, Any]:
    """(order, ranked scores, cumulative weighted hits, cumulative weight, run ends) over papers, best score first.

    Entry i describes the cut that keeps the first i + 1 papers; only cuts at run ends are valid.
    """
    import numpy as np

    order = np.argsort(-prob, kind="stable")
    w = np.ones(len(prob)) if weight is None else np.asarray(weight, dtype=float)
    ranked = prob[order]
    return order, ranked, np.cumsum((w * hit)[order]), np.cumsum(w[order]), run_ends(ranked)


def wilson_bound(hits: Any, n: Any, z: float = 1.0, upper: bool = True) -> Any:
    """Upper (or lower) Wilson bound of a proportion hits/n (elementwise)."""
    import numpy as np

    n = np.maximum(np.asarray(n, dtype=float), 1e-12)
    p, z2 = np.asarray(hits, dtype=float) / n, z * z
    margin = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (p + z2 / (2 * n) + (margin if upper else -margin)) / (1 + z2 / n)


def calibration_curve(raw: Any, target: Any, weight: Any, prior: float) -> tuple[Any, Any]:
    """Centred isotonic P(positive | raw) on out-of-fold scores, shifted from the training balance to `prior`.

    Plain isotonic regression is a step function: whole blocks of papers tie, so a threshold could only cut at
    block edges (and ranking by score would be arbitrary inside a block). We keep one knot per block at the
    block's mean raw score and interpolate linearly between knots: monotone, strictly increasing inside the range.
    """
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(raw, target, sample_weight=weight)
    fitted = iso.predict(raw)
    ps, inv = np.unique(fitted, return_inverse=True)
    xs = np.bincount(inv, weights=raw) / np.bincount(inv)
    train_prior = float(np.average(target, weights=weight))
    if 0 < prior < 1 and 0 < train_prior < 1:
        odds = ps / np.maximum(1 - ps, 1e-12) * (prior / (1 - prior)) / (train_prior / (1 - train_prior))
        ps = odds / (1 + odds)
    return xs, ps


def choose_threshold(prob: Any, target: Any, weight: Any, target_precision: float, prior: float,
                     fp_share: Any = None) -> tuple[float, dict[str, float]]:
    """Lowest calibrated score whose stream precision (positives re-weighted to `prior`) reaches the target.

    `fp_share` (per row, default 1) is how much a negative counts as a false positive: below 1 for unlabelled
    papers that, judging by reviewed papers with similar scores, are often relevant after all.
    """
    import numpy as np

    pos_w = weight * (target == 1)
    neg_w = weight * (target == 0)
    # Re-weight positives so that they make up `prior` of the total weight, as in the stream.
    scale = prior / (1 - prior) * neg_w.sum() / max(pos_w.sum(), 1e-12)
    order = np.argsort(-prob, kind="stable")
    tp = np.cumsum(pos_w[order] * scale)
    fp = np.cumsum((neg_w * (1.0 if fp_share is None else fp_share))[order])
    precision = tp / np.maximum(tp + fp, 1e-12)
    recall = tp / max(tp[-1], 1e-12)
    # A threshold keeps every paper scoring at least it: only the ends of runs of tied scores are valid cuts.
    ranked = prob[order]
    ends = run_ends(ranked)
    ok = np.flatnonzero((precision >= target_precision) & ends)
    if len(ok) == 0:
        cand = np.flatnonzero(ends)
        i = int(cand[np.argmax(precision[cand])])
    else:
        i = int(ok[-1])  # the deepest cut that still meets the target
    thr = float(prob[order][i])
    return thr, {"precision": float(precision[i]), "recall": float(recall[i])}


def unlabelled_fp_share(examples: Sequence[TrainingExample], papers: Sequence[TrainingExample], y: Any, raw: Any,
                        used: Any) -> tuple[Any, dict[str, Any]]:
    """Per paper, how much an unlabelled paper counts as a false positive when choosing the threshold.

    Reviewed papers are unlabelled papers a maintainer judged: the include rate among them as a function of the
    out-of-fold score (isotonic) estimates how many unlabelled papers at that score are relevant after all. Outside
    the reviewed score range (and without reviews) an unlabelled paper counts fully.
    """
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    reviewed = with_kinds(examples, papers, REVIEWED_KINDS) & used
    share = np.ones(len(y))
    inc = (y == 1)[reviewed]
    if reviewed.sum() < 20 or inc.all() or not inc.any():
        return share, {"reviewed": int(reviewed.sum()), "applied": False}
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw[reviewed], inc.astype(float))
    lo = float(raw[reviewed].min())
    g = np.where(raw >= lo, iso.predict(raw), 0.0)
    share = np.where(y == -1, 1.0 - g, 1.0)
    return share, {"reviewed": int(reviewed.sum()), "include_rate": round(float(inc.mean()), 3), "applied": True,
                   "min_reviewed_raw": lo}


def reviewed_threshold(examples: Sequence[TrainingExample], papers: Sequence[TrainingExample], y: Any,
                       prob: Any, used: Any, target_precision: float, min_flagged: int = 30) -> tuple[float | None, dict[str, Any]]:
    """Lowest calibrated score at which the maintainer-reviewed hard cases (out-of-fold) reach the target precision.

    Reviewed papers are the ones a tf-idf model was most sure of, each judged by a maintainer: exactly the papers
    near the decision boundary where precision is won or lost. Their out-of-fold include rate above a cut is a
    direct precision estimate there, unlike the stream estimate, which must assume a base rate and counts every
    unlabelled paper as (mostly) wrong. None when fewer than `min_flagged` reviewed papers would be flagged.
    """
    import numpy as np

    reviewed = with_kinds(examples, papers, REVIEWED_KINDS) & used
    info: dict[str, Any] = {"reviewed": int(reviewed.sum()), "applied": False}
    if reviewed.sum() < min_flagged:
        return None, info
    _, ranked, hits, n, ends = ranked_cumulative(prob[reviewed], (y == 1)[reviewed].astype(float))
    precision = hits / n
    # A few hundred reviews are a small sample: the cut must reach the target with a margin (Wilson lower bound,
    # z = 1), so that precision on papers the model has not seen is at the target, not just around it.
    lower = wilson_bound(hits, n, upper=False)
    ok = np.flatnonzero((lower >= target_precision) & ends & (n >= min_flagged))
    if len(ok) == 0:
        return None, info
    i = int(ok[-1])
    info.update(applied=True, flagged=i + 1, precision=round(float(precision[i]), 3),
                precision_lower_bound=round(float(lower[i]), 3))
    return float(ranked[i]), info


def reviewed_veto(examples: Sequence[TrainingExample], papers: Sequence[TrainingExample], y: Any, prob: Any,
                  used: Any, cut: float, target_precision: float) -> tuple[float, dict[str, Any]]:
    """`cut`, raised where the judged papers above it (out of fold) show a precision below the target.

    Judged papers are reviewed ones and proposals the maintainers decided on. No estimate may overrule direct
    evidence: when even the upper bound (Wilson, z = 1) of the included share of judged papers above the cut is
    below the target, the cut moves up to the deepest score where their included share reaches the target (or
    above every judged paper when none does). Judged papers are the hardest cases, so their share there is a
    pessimistic reading of the stream's precision.
    """
    import numpy as np

    judged = with_kinds(examples, papers, JUDGED_KINDS) & used
    _, ranked, hits, n, ends = ranked_cumulative(prob[judged], (y == 1)[judged].astype(float))
    upper = wilson_bound(hits, n)
    above = np.flatnonzero((ranked >= cut) & ends)
    info: dict[str, Any] = {"judged": int(judged.sum()), "raised": False}
    if len(above) == 0:
        return cut, info
    i = int(above[-1])
    info.update(flagged=int(n[i]), precision=round(float(hits[i] / n[i]), 3))
    if upper[i] >= target_precision:
        return cut, info
    ok = np.flatnonzero(ends & (ranked > cut) & (hits / n >= target_precision))
    if len(ok):
        j = int(ok[-1])
        new_cut = float(ranked[j])
        info.update(flagged_after=int(n[j]), precision_after=round(float(hits[j] / n[j]), 3))
    else:
        new_cut = float(np.nextafter(ranked[0], np.inf))  # above every judged paper: the evidence says none is safe
        info.update(flagged_after=0, precision_after=None)
    info["raised"] = True
    return new_cut, info


def stream_pu_threshold(prob: Any, y: Any, stream: Any, target_precision: float, unlabelled_scale: float = 1.0,
                        judged: Any = None, min_labelled: int = 20,
                        max_relevant_share: float = 0.25) -> tuple[float | None, dict[str, Any]]:
    """Lowest calibrated score at which the estimated precision on the stream reaches the target, or None.

    None when the stream holds fewer than `min_labelled` labelled or unlabelled papers, when the estimate is
    implausible (below) or when no cut reaches the target. The stream sample is every paper of the configured
    categories the unlabelled papers were drawn from, labelled or not (`stream`, a boolean per row; y: 1 relevant,
    0 known irrelevant, -1 unlabelled). With g(score) =
    P(labelled | score) on that sample (isotonic, out-of-fold scores) and c = mean g over its labelled papers, the
    share of relevant papers that carry a label (Elkan & Noto 2008, assuming labels are a random sample of the
    relevant papers), an unlabelled paper is relevant with probability (1 - c)/c * g/(1 - g). Precision above a
    cut = (known relevant + expected relevant unlabelled) / all papers above it. `judged` rows (reviewed papers,
    review feedback) were picked for review by a model's score: for g and c they are what they were before the
    review, unlabelled, and in the precision they count as what the review found. Unlabelled rows weigh
    `unlabelled_scale` (papers seen per paper kept, when they were subsampled).
    The estimate needs scores that separate relevant papers: with scores that barely rank, c sinks towards the
    labelled share and every paper looks relevant. More than `max_relevant_share` of the stream estimated relevant
    (a curated list does not want a quarter of arXiv) is taken as that failure: None.
    """
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    s = np.asarray(stream, dtype=bool)
    chosen = np.zeros(len(s), dtype=bool) if judged is None else np.asarray(judged, dtype=bool)
    labelled = (y == 1) & ~chosen  # labelled independently of any model: a random sample of the relevant papers
    info: dict[str, Any] = {"applied": False, "stream_papers": int(s.sum()), "stream_labelled": int((s & labelled).sum()),
                            "stream_judged": int((s & chosen).sum()), "unlabelled_scale": round(unlabelled_scale, 4)}
    if (s & labelled).sum() < min_labelled or (s & ~labelled).sum() < min_labelled:
        return None, info
    w = np.where(y == -1, unlabelled_scale, 1.0)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    g = iso.fit(prob[s], labelled[s].astype(float), sample_weight=w[s]).predict(prob)
    c = float(g[s & labelled].mean())
    estimate = np.clip((1 - c) / c * g / np.maximum(1 - g, 1e-12), 0, 1)
    if (s & chosen).any():
        # The estimate checked against what the reviews found, on the papers they judged.
        info["judged_check"] = {"estimated_relevant": round(float(estimate[s & chosen].mean()), 3),
                                "found_relevant": round(float((y[s & chosen] == 1).mean()), 3)}
    relevant = np.where(y == 1, 1.0, np.where(y == 0, 0.0, estimate))
    w, relevant, lab = w[s], relevant[s], labelled[s].astype(float)
    order, ranked, hits, n, ends = ranked_cumulative(prob[s], relevant, w)
    precision = hits / n
    ok = np.flatnonzero((precision >= target_precision) & ends)
    share = float((w * relevant).sum() / w.sum())
    info.update(labelled_share_of_relevant=round(c, 4), relevant_share_of_stream=round(share, 4))
    if share > max_relevant_share:
        info["implausible"] = f"over {max_relevant_share:.0%} of the stream estimated relevant: the scores do not separate"
        return None, info
    if len(ok) == 0:
        return None, info
    i = int(ok[-1])
    info.update(applied=True, precision=round(float(precision[i]), 3), flagged_share=round(float(n[i] / n[-1]), 5),
                labelled_recall=round(float((lab[order][: i + 1]).sum() / lab.sum()), 3))
    return float(ranked[i]), info


def judged_calibration(calib_x: Any, calib_y: Any, raw: Any, include: Any, judged: Any, threshold: float,
                       min_judged: int = 100, min_above: int = 30) -> tuple[Any, Any, float, dict[str, Any]]:
    """(knots x, knots y, threshold) with probabilities from the judged papers where they speak, and its evidence.

    The stream calibration counts every unlabelled paper as (mostly) irrelevant; near the threshold most of them
    are relevant after all: maintainers include far more of the papers there than the stream probability says
    (reviewed include rate 0.86 where it said 0.15-0.2). From the threshold up, the probability becomes the judged
    papers' include rate at that raw score (isotonic, out of fold); below it, the stream probability scaled by the
    same factor it has at the threshold, so the curve stays continuous and increasing; above the highest judged
    score it runs on to the stream curve's top. Only the numbers change, never the order: every decision the
    thresholds made on the stream scale is the same on the new one (the threshold is mapped along). Unchanged when
    fewer than `min_judged` judged papers (or `min_above` above the threshold, or only one verdict) say anything,
    or when they say the stream probability is not too low.
    """
    import numpy as np

    raw, include, judged = np.asarray(raw, float), np.asarray(include, bool), np.asarray(judged, bool)
    info: dict[str, Any] = {"applied": False, "judged": int(judged.sum())}
    if not calib_y[0] < threshold <= calib_y[-1]:
        info["reason"] = "the threshold lies outside the calibration curve"
        return calib_x, calib_y, threshold, info
    # The stream curve rises strictly between its knots (one per isotonic block): the raw score where it reaches
    # the threshold is exact, and a paper is flagged on either scale exactly when its raw score reaches it.
    raw_thr = float(np.interp(threshold, calib_y, calib_x))
    above = judged & (raw >= raw_thr)
    info["judged_above_threshold"] = int(above.sum())
    if judged.sum() < min_judged or above.sum() < min_above or include[judged].all() or not include[judged].any():
        return calib_x, calib_y, threshold, info
    # One pseudo-verdict at each end (an exclusion at the top, an inclusion at the bottom): no block of judged
    # papers, however unanimous, makes a probability of exactly 1 or 0.
    jr = np.concatenate([raw[judged], [raw[judged].min(), raw[judged].max()]])
    ji = np.concatenate([include[judged].astype(float), [1.0, 0.0]])
    jx, jy = calibration_curve(jr, ji, np.ones(len(jr)), 0.0)
    j_thr = float(np.interp(raw_thr, jx, jy))
    if j_thr <= threshold:  # (threshold > calib_y[0] >= 0 above)
        info["reason"] = "the judged papers do not find the stream probability too low"
        return calib_x, calib_y, threshold, info
    factor = j_thr / threshold
    j_top_x = float(jx[-1])
    s_top = float(np.interp(j_top_x, calib_x, calib_y))
    j_top = float(np.interp(j_top_x, jx, jy))
    xs = np.unique(np.concatenate([calib_x, jx, [raw_thr]]))
    s = np.interp(xs, calib_x, calib_y)
    # Each piece rises and meets the next: the stream curve scaled up to j_thr at raw_thr, the judged curve (which
    # is j_thr there) up to its last knot, then the stream curve's rise stretched onto what is left up to 1.
    below = s * factor
    middle = np.interp(xs, jx, jy)
    top = j_top + (1.0 - j_top) * np.clip((s - s_top) / max(1.0 - s_top, 1e-12), 0.0, 1.0)
    ys = np.where(xs < raw_thr, below, np.where(xs <= j_top_x, middle, top))
    info.update(applied=True, factor_below_threshold=round(factor, 3), stream_threshold=round(threshold, 4),
                threshold=round(j_thr, 4), judged_top_probability=round(j_top, 4))
    return xs, ys, j_thr, info
