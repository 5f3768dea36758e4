"""The threshold rule from maintainer-reviewed hard cases (out-of-fold)."""

from __future__ import annotations

import numpy as np

from lfmwatch.model.examples import example
from lfmwatch.model.thresholds import reviewed_threshold


def _case(n: int, include_top: int, n_bad_top: int = 0):
    # n reviewed papers ranked by prob; the first `include_top` are included except `n_bad_top` spread among them,
    # the rest are excluded; plus unlabelled papers that must not count.
    examples, papers, y, prob = [], [], [], []
    for i in range(n):
        inc = i < include_top and not (i % 10 == 5 and i // 10 < n_bad_top)
        e = example(f"r{i}", f"t{i}", "a", "A > B" if inc else None, "reviewed_pos" if inc else "reviewed_neg")
        examples.append(e)
        papers.append(e)
        y.append(1 if inc else 0)
        prob.append(0.9 - i * 0.01)
    for j in range(50):
        e = example(f"u{j}", f"u{j}", "a", None, "negative")
        examples.append(e)
        papers.append(e)
        y.append(-1)
        prob.append(0.95 - j * 0.001)  # unlabelled high scorers do not enter the reviewed estimate
    return examples, papers, np.array(y), np.array(prob), np.ones(len(y), dtype=bool)


def test_cut_is_the_deepest_reaching_the_target() -> None:
    examples, papers, y, prob, used = _case(100, include_top=60, n_bad_top=2)
    thr, info = reviewed_threshold(examples, papers, y, prob, used, 0.9, min_flagged=30)
    assert info["applied"] and info["precision_lower_bound"] >= 0.9
    flagged = prob[:100] >= thr
    assert flagged.sum() == info["flagged"] >= 30
    assert (y[:100][flagged] == 1).mean() >= info["precision_lower_bound"]
    # the reviewed estimate ignores the unlabelled papers and stops where the excluded tail begins
    assert prob[65] < thr <= prob[55]


def test_a_noisier_sample_needs_a_higher_cut() -> None:
    clean = reviewed_threshold(*_case(100, include_top=60, n_bad_top=0), 0.9, min_flagged=30)[0]
    noisy = reviewed_threshold(*_case(100, include_top=60, n_bad_top=5), 0.9, min_flagged=30)[0]
    assert clean is not None and (noisy is None or noisy > clean)


def test_too_few_reviewed_papers_or_no_precise_cut_gives_none() -> None:
    examples, papers, y, prob, used = _case(20, include_top=20)
    assert reviewed_threshold(examples, papers, y, prob, used, 0.9, min_flagged=30)[0] is None
    examples, papers, y, prob, used = _case(80, include_top=10)
    assert reviewed_threshold(examples, papers, y, prob, used, 0.9, min_flagged=30)[0] is None
