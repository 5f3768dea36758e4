"""Baselines: keyword matching like README auto-updaters, and arxiv-sanity-lite's tf-idf + LinearSVC."""

from __future__ import annotations

import random

import pytest

from lfmwatch.backtest import baselines as bl
from lfmwatch.errors import ModelError

MERGE = "Model Reuse > Model Fusion > Weight Interpolation"
DISTIL = "Model Distillation > Generative Reconstruction"
ADAPT = "Model Tuning > Weight Enginerring > Adapter Tuning"


def test_keywords_match_sections_and_rank_by_hits() -> None:
    kw = bl.keyword_baseline()
    preds = kw.predict([
        {"id": "1", "title": "Model-Merging via task arithmetic", "abstract": "We study model soups."},
        {"id": "2", "title": "A study of galaxies", "abstract": "Redshift surveys."},
        {"id": "3", "title": "Robots", "abstract": "we use knowledge distillation once"},
    ])
    assert preds[0]["relevant"] and preds[0]["section"] == MERGE
    assert not preds[1]["relevant"] and preds[1]["score"] == 0.0
    assert preds[2]["section"] == DISTIL and preds[0]["score"] > preds[2]["score"]
    assert "model merging" in preds[0]["why"]


def test_keyword_longest_phrase_wins_and_title_counts_double() -> None:
    kw = bl.keyword_baseline()
    (p,) = kw.predict([{"id": "1", "title": "Data-free knowledge distillation", "abstract": ""}])
    assert p["section"] == "Model Distillation > Noise Optimization"
    (a, b) = kw.predict([{"id": "a", "title": "LoRA", "abstract": ""}, {"id": "b", "title": "x", "abstract": "LoRA"}])
    assert a["score"] > b["score"] > 0


def test_keyword_table_restricted_to_the_lists_sections() -> None:
    kw = bl.keyword_baseline([MERGE])
    assert list(kw.keywords) == [MERGE]
    (p,) = kw.predict([{"id": "1", "title": "knowledge distillation", "abstract": ""}])
    assert not p["relevant"]
    with pytest.raises(ModelError):
        bl.keyword_baseline(["Nowhere > Section"])


def test_svm_baseline_learns_sections_from_list_entries() -> None:
    rng = random.Random(1)
    vocab = {MERGE: "merging interpolation soups arithmetic checkpoints",
             DISTIL: "distillation teacher student logits compression",
             ADAPT: "adapter lora lowrank efficient backbone"}
    noise = "protein robot galaxy traffic speech weather crop music graph segmentation".split()

    def text(words: list[str]) -> str:
        return " ".join(rng.choice(words) for _ in range(15))

    positives = [({"id": f"{j}.{i}", "title": text(w.split()), "abstract": text(w.split())}, s)
                 for j, (s, w) in enumerate(vocab.items()) for i in range(8)]
    negatives = [{"id": f"n{i}", "title": text(noise), "abstract": text(noise)} for i in range(120)]
    svm = bl.fit_svm_baseline(positives, negatives)
    preds = svm.predict([
        {"id": "q1", "title": "soups and merging", "abstract": "interpolation of checkpoints arithmetic"},
        {"id": "q2", "title": "teacher student", "abstract": "distillation of logits"},
        {"id": "q3", "title": "galaxy robot", "abstract": "protein traffic weather"},
    ])
    assert [p["section"] for p in preds[:2]] == [MERGE, DISTIL]
    assert preds[0]["relevant"] and preds[1]["relevant"] and not preds[2]["relevant"]
    assert preds[2]["score"] < min(preds[0]["score"], preds[1]["score"])
    # Same data, same model: reproducible.
    assert bl.fit_svm_baseline(positives, negatives).predict([{"id": "q1", "title": "soups", "abstract": ""}]) == \
        svm.predict([{"id": "q1", "title": "soups", "abstract": ""}])


def test_svm_baseline_needs_entries_and_negatives() -> None:
    with pytest.raises(ModelError, match="needs list entries"):
        bl.fit_svm_baseline([], [{"id": "n", "title": "x", "abstract": ""}])
