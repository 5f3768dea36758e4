"""The stream-pu threshold rule (positive-unlabelled estimate on the stream) and the reviewed veto."""

from __future__ import annotations

import numpy as np
import pytest

from lfmwatch.model.examples import example
from lfmwatch.model.thresholds import reviewed_veto, stream_pu_threshold


def _stream(n: int = 20000, relevant_from: float = 0.9, label_rate: float = 0.2, seed: int = 0):
    """Scores uniform in [0, 1); papers scoring >= relevant_from are relevant; a random `label_rate` of them
    carry a label. Returns (score, y, truly relevant)."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    relevant = score >= relevant_from
    labelled = relevant & (rng.random(n) < label_rate)
    return score, np.where(labelled, 1, -1), relevant


def _true_precision(score, relevant, cut: float) -> float:
    return float(relevant[score >= cut].mean())


def test_recovers_the_label_rate_and_cuts_where_true_precision_meets_the_target() -> None:
    score, y, relevant = _stream()
    thr, info = stream_pu_threshold(score, y, np.ones(len(y), dtype=bool), 0.9)
    assert info["applied"]
    assert info["labelled_share_of_relevant"] == pytest.approx(0.2, abs=0.03)
    assert info["relevant_share_of_stream"] == pytest.approx(relevant.mean(), abs=0.02)
    # uniform scores, relevant from 0.9: precision above t is 0.1 / (1 - t), 0.9 at t = 0.889
    assert thr == pytest.approx(0.889, abs=0.01)
    assert _true_precision(score, relevant, thr) >= 0.87
    # counting every unlabelled paper as wrong, no cut would reach 0.9 (the labelled share is ~0.2 at best)
    assert (y[score >= 0.95] == 1).mean() < 0.3


def test_a_higher_target_gives_a_higher_cut() -> None:
    score, y, _ = _stream(relevant_from=0.85)
    stream = np.ones(len(y), dtype=bool)
    low, _ = stream_pu_threshold(score, y, stream, 0.7)
    high, _ = stream_pu_threshold(score, y, stream, 0.95)
    assert low is not None and high is not None and high > low


def test_rows_outside_the_stream_do_not_count() -> None:
    score, y, _ = _stream()
    stream = np.ones(len(y), dtype=bool)
    # extra labelled papers from another list (not stream papers) must not move the estimate
    extra_score = np.full(3000, 0.99)
    thr, info = stream_pu_threshold(np.concatenate([score, extra_score]), np.concatenate([y, np.ones(3000, int)]),
                                    np.concatenate([stream, np.zeros(3000, bool)]), 0.9)
    base, base_info = stream_pu_threshold(score, y, stream, 0.9)
    assert thr == pytest.approx(base) and info["labelled_share_of_relevant"] == base_info["labelled_share_of_relevant"]


def test_subsampled_unlabelled_papers_are_weighed_back() -> None:
    score, y, _ = _stream(n=40000)
    stream = np.ones(len(y), dtype=bool)
    full, full_info = stream_pu_threshold(score, y, stream, 0.9)
    keep = (y == 1) | (np.arange(len(y)) % 2 == 0)  # every labelled paper, half the unlabelled ones
    half, half_info = stream_pu_threshold(score[keep], y[keep], stream[keep], 0.9, unlabelled_scale=2.0)
    unweighted, unweighted_info = stream_pu_threshold(score[keep], y[keep], stream[keep], 0.9)
    assert half_info["labelled_share_of_relevant"] == pytest.approx(full_info["labelled_share_of_relevant"], abs=0.03)
    assert half == pytest.approx(full, abs=0.01)
    # without the weight, labelled papers look twice as common: the rule would think labels cover more
    assert unweighted_info["labelled_share_of_relevant"] > half_info["labelled_share_of_relevant"] + 0.05


def test_judged_papers_count_as_found_but_do_not_look_randomly_labelled() -> None:
    score, y, relevant = _stream()
    stream = np.ones(len(y), dtype=bool)
    base, base_info = stream_pu_threshold(score, y, stream, 0.9)
    # a reviewer judged the 300 best-scoring unlabelled papers: picked by score, not at random
    top_unlabelled = np.flatnonzero(y == -1)[np.argsort(-score[y == -1])[:300]]
    judged = np.zeros(len(y), dtype=bool)
    judged[top_unlabelled] = True
    y2 = y.copy()
    y2[top_unlabelled] = np.where(relevant[top_unlabelled], 1, 0)
    thr, info = stream_pu_threshold(score, y2, stream, 0.9, judged=judged)
    assert info["stream_judged"] == 300 and info["stream_labelled"] == base_info["stream_labelled"]
    assert info["labelled_share_of_relevant"] == pytest.approx(base_info["labelled_share_of_relevant"], abs=0.01)
    assert info["judged_check"]["found_relevant"] == 1.0
    assert info["judged_check"]["estimated_relevant"] > 0.8
    assert thr == pytest.approx(base, abs=0.01)
    # treated as random labels instead, the reviews would inflate the labelled share
    _, naive = stream_pu_threshold(score, np.where(y2 == 0, -1, y2), stream, 0.9)
    assert naive["labelled_share_of_relevant"] > info["labelled_share_of_relevant"] + 0.1


def test_scores_that_do_not_rank_give_no_answer() -> None:
    # random scores: labels spread evenly, so every paper would look as relevant as a labelled one
    rng = np.random.default_rng(3)
    score = rng.random(20000)
    y = np.where(rng.random(20000) < 0.01, 1, -1)
    thr, info = stream_pu_threshold(score, y, np.ones(len(y), dtype=bool), 0.9)
    assert thr is None and not info["applied"] and "do not separate" in info["implausible"]
    assert info["relevant_share_of_stream"] > 0.25


def test_too_few_labelled_stream_papers_give_no_answer() -> None:
    score, y, _ = _stream(n=2000, label_rate=0.05)
    thr, info = stream_pu_threshold(score, y, np.ones(len(y), dtype=bool), 0.9, min_labelled=20)
    assert thr is None and not info["applied"] and info["stream_labelled"] < 20


def _reviewed(include: list[bool]):
    """Reviewed papers in score order (0.99, 0.98, ...) plus unlabelled papers that must not count."""
    examples, y, prob = [], [], []
    for i, inc in enumerate(include):
        examples.append(example(f"r{i}", f"t{i}", "a", "A" if inc else None, "reviewed_pos" if inc else "reviewed_neg"))
        y.append(1 if inc else 0)
        prob.append(0.99 - i * 0.005)
    for j in range(40):
        examples.append(example(f"u{j}", f"u{j}", "a", None, "negative"))
        y.append(-1)
        prob.append(0.5 + j * 0.01)
    return examples, examples, np.array(y), np.array(prob), np.ones(len(y), dtype=bool)


def test_reviews_raise_a_cut_where_they_fall_short_of_the_target() -> None:
    # 60 reviewed: the first 40 all included, the next 20 all excluded
    ex, papers, y, prob, used = _reviewed([True] * 40 + [False] * 20)
    low = float(prob[59])  # a cut flagging all 60: precision 40/60
    cut, info = reviewed_veto(ex, papers, y, prob, used, low, 0.9)
    assert info["raised"] and info["precision"] == pytest.approx(40 / 60, abs=0.001)
    flagged = (prob[:60] >= cut)
    # the deepest cut where the included share reaches 0.9: 40 included of 40 + 4 excluded
    assert flagged.sum() == info["flagged_after"] == 44 and info["precision_after"] == pytest.approx(40 / 44, abs=0.001)


def test_reviews_leave_a_good_cut_alone_and_a_small_uncertain_sample_too() -> None:
    ex, papers, y, prob, used = _reviewed([True] * 58 + [False] * 2)
    cut, info = reviewed_veto(ex, papers, y, prob, used, float(prob[59]), 0.9)
    assert cut == float(prob[59]) and not info["raised"]
    ex, papers, y, prob, used = _reviewed([True] * 4 + [False])  # 4 of 5: could well be 0.9 (upper bound 0.93)
    cut, info = reviewed_veto(ex, papers, y, prob, used, float(prob[4]), 0.9)
    assert cut == float(prob[4]) and not info["raised"]


def test_rejected_proposals_count_and_can_push_the_cut_above_them_all() -> None:
    ex = [example(f"f{i}", "t", "a", None, "feedback_rejected") for i in range(12)]
    ex += [example(f"u{j}", "u", "a", None, "negative") for j in range(20)]
    y = np.array([0] * 12 + [-1] * 20)
    prob = np.array([0.8 - i * 0.01 for i in range(12)] + [0.1] * 20)
    cut, info = reviewed_veto(ex, ex, y, prob, np.ones(len(y), dtype=bool), 0.5, 0.9)
    assert info["raised"] and info["judged"] == 12 and info["flagged_after"] == 0
    assert cut > 0.8 and not (prob >= cut).any()


def _papers(seed: int = 0) -> list:
    """Labelled merging papers (some from the stream), unlabelled stream papers: off-topic ones and a few merging
    papers nobody labelled (as in real data, where labels cover a fraction of the relevant papers)."""
    import random

    rng = random.Random(seed)
    topic, filler = "merging weights interpolation soup merged checkpoints averaging".split(), \
        "we study a method results show experiments benchmark data performance approach".split()
    others = ["galaxy spectra telescope redshift", "protein folding molecule docking", "traffic road vehicle forecast"]

    def text(words: list[str]) -> str:
        return " ".join(rng.choice(words) if rng.random() < 0.5 else rng.choice(filler) for _ in range(30))

    sec = "Model Reuse > Model Fusion"
    rows = [example(f"2401.{i:05d}", text(topic), text(topic), sec, "label") for i in range(60)]
    rows += [example(f"2402.{i:05d}", text(topic), text(topic), None, "negative") for i in range(60)]
    rows += [example(f"2403.{i:05d}", text(others[i % 3].split()), text(others[i % 3].split()), None, "negative")
             for i in range(1500)]
    return rows


def test_fit_model_uses_the_stream_rule_when_the_stream_has_labelled_papers() -> None:
    from lfmwatch.model.examples import mark_stream
    from lfmwatch.model.fit import FitOptions, fit_model

    opts = FitOptions(folds=2, min_df_keep=1, min_pos_df_keep=1, stage2_negatives=0)
    rows = _papers()
    plain = fit_model(rows, target_precision=0.9, options=opts)
    assert plain.card["threshold_rule"] == "stream" and not plain.card["stream_pu"]["applied"]
    # 30 of the labelled papers were found in the stream the negatives come from
    marked = mark_stream(rows, {f"2401.{i:05d}" for i in range(30)})
    assert sum(e.stream for e in marked) == 30 + 1560
    pu = fit_model(marked, target_precision=0.9, options=opts)
    info = pu.card["stream_pu"]
    assert pu.card["threshold_rule"] == "stream-pu" and info["applied"]
    assert info["stream_labelled"] == 30 and info["stream_papers"] == 1590
    # a third of the stream's merging papers carry a label (30 of 90: 60 unlabelled ones read the same)
    assert 0.2 < info["labelled_share_of_relevant"] < 0.6
    assert pu.threshold == pu.card["stream_pu_threshold"] <= pu.card["stream_threshold"]


def test_rejected_proposals_raise_the_fitted_threshold_and_the_card_says_so() -> None:
    from lfmwatch.model.examples import mark_stream
    from lfmwatch.model.fit import FitOptions, fit_model

    opts = FitOptions(folds=2, min_df_keep=1, min_pos_df_keep=1, stage2_negatives=0)
    rows = mark_stream(_papers(), {f"2401.{i:05d}" for i in range(30)})
    base = fit_model(rows, target_precision=0.9, options=opts, unlabelled_seen=3120)
    assert base.card["stream_pu"]["unlabelled_scale"] == 2.0  # 1,560 unlabelled papers kept of 3,120 seen
    assert not base.card["judged_veto"]["raised"]
    # The maintainers rejected 40 on-topic proposals: their verdicts outweigh the estimate.
    merging = [r for r in _papers(seed=1) if r.id.startswith("2401.")][:40]
    rejected = [example(f"2404.{i:05d}", r.title, r.abstract, None, "feedback_rejected") for i, r in enumerate(merging)]
    strict = fit_model(rows + rejected, target_precision=0.9, options=opts, unlabelled_seen=3120)
    assert strict.card["threshold_rule"].endswith("(raised by reviews)")
    assert strict.card["judged_veto"]["raised"] and strict.card["judged_veto"]["judged"] == 40
    assert strict.threshold > strict.card["stream_pu_threshold"]


def test_a_merged_proposal_counts_as_judged_not_as_an_independent_label() -> None:
    from lfmwatch.model.fit import _judged

    rows = [example("a", "t", "x", "S", "list"), example("a", "t", "x", "S", "feedback_accepted"),  # merged proposal
            example("b", "t", "x", "S", "list"), example("b", "t", "x", None, "reviewed_neg"),  # listed, also reviewed
            example("c", "t", "x", None, "reviewed_neg"), example("d", "t", "x", "S", "label"),
            example("e", "t", "x", None, "negative")]
    papers = [rows[0], rows[2], rows[4], rows[5], rows[6]]
    assert list(_judged(rows, papers)) == [True, False, True, False, False]


def test_judged_calibration_takes_the_judged_include_rate_and_keeps_every_decision():
    """Stream probabilities 5x too low near the threshold (judged papers say so): from the threshold up the
    probability becomes the judged include rate, below it the stream curve scaled to meet it; the order of all
    papers and the set above the threshold are exactly as before."""
    import numpy as np

    from lfmwatch.model.thresholds import calibration_curve, judged_calibration

    rng = np.random.default_rng(0)
    raw = rng.normal(size=5000)
    # The stream curve: positives are rare and follow the raw score.
    stream_pos = rng.random(5000) < 0.02 / (1 + np.exp(-3 * raw))
    cx, cy = calibration_curve(raw, stream_pos.astype(float), np.ones(5000), 0.0)
    threshold = float(np.interp(1.0, cx, cy))
    # 400 judged papers from the upper band; a maintainer includes them at 1/(1 + e^-(2 raw)).
    judged = np.zeros(5000, dtype=bool)
    judged[np.flatnonzero(raw > -0.5)[:400]] = True
    include = judged & (rng.random(5000) < 1 / (1 + np.exp(-2 * raw)))
    xs, ys, thr, info = judged_calibration(cx, cy, raw, include, judged, threshold)
    assert info["applied"] and thr > 2 * threshold
    assert np.all(np.diff(ys) >= 0) and ys.max() < 1.0
    old, new = np.interp(raw, cx, cy), np.interp(raw, xs, ys)
    assert np.array_equal(old >= threshold, new >= thr)  # the same papers flagged
    order = np.argsort(raw)
    assert np.all(np.diff(new[order]) >= 0)  # no paper overtakes another
    # Near the threshold the new probability is the judged include rate there (about 1 / (1 + e^-2) = 0.88).
    near = judged & (raw > 0.9) & (raw < 1.3)
    assert abs(new[near].mean() - include[near].mean()) < 0.1
    assert abs(old[near].mean() - include[near].mean()) > 0.5
    # Too few judged papers, or none above the threshold: nothing changes.
    few = judged & (raw < 0.0)
    assert judged_calibration(cx, cy, raw, include, few, threshold)[2] == threshold
    assert judged_calibration(cx, cy, raw, include, judged, threshold, min_judged=401)[0] is cx
