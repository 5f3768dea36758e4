"""`why` words: units, numbers, fragments and filler are never a reason shown to a reviewer."""

from __future__ import annotations

import pytest

from lfmwatch.model.classifier import _topical
from lfmwatch.model.why_filter import is_noise


@pytest.mark.parametrize("term", ["percentage points", "mm", "insights", "rethinking", "inter", "dropout", "7b",
                                  "2x", "10 mm", "1st", "gb", "towards", "empirical insights"])
def test_noise_is_never_a_reason(term: str) -> None:
    assert is_noise(term.split()) and not _topical(term.split(), set())


@pytest.mark.parametrize("term", ["model merging", "task arithmetic", "lora", "weight averaging", "distillation",
                                  "knowledge distillation", "meta learning", "model editing", "prompt tuning"])
def test_topics_stay(term: str) -> None:
    assert not is_noise(term.split()) and _topical(term.split(), set())
