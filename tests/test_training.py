"""Training pieces: threshold choice, unlabelled-positive correction, negative sampling, feedback examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lfmwatch.model.examples import example


def test_threshold_meets_target_at_deepest_valid_cut():
    from lfmwatch.model.thresholds import choose_threshold

    prob = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5])
    target = np.array([1, 1, 0, 1, 0, 0])
    w = np.ones(6)
    thr, at = choose_threshold(prob, target, w, 0.6, prior=0.5)
    # Cuts: 0.9 -> 1.0, 0.8 -> 0.667, 0.7 -> 0.75, 0.6 -> 0.6, 0.5 -> 0.5 (prior 0.5 = the data's own balance).
    assert thr == 0.6 and abs(at["precision"] - 0.6) < 1e-9
    thr_strict, _ = choose_threshold(prob, target, w, 0.95, prior=0.5)
    assert thr_strict == 0.9
    # A negative that reviews say is often relevant counts less as a false positive: the cut goes deeper.
    thr_pu, _ = choose_threshold(prob, target, w, 0.75, prior=0.5, fp_share=np.array([1, 1, 0.1, 1, 1, 1]))
    assert thr_pu == 0.7
    assert choose_threshold(prob, target, w, 0.75, prior=0.5)[0] == 0.7


def test_unlabelled_fp_share_uses_reviews_only_in_their_score_range():
    from lfmwatch.model.thresholds import unlabelled_fp_share

    examples, papers, y, raw = [], [], [], []
    for i in range(40):  # reviewed: included when the score is high
        kind = "reviewed_pos" if i >= 15 else "reviewed_neg"
        examples.append(example(f"r{i}", "t", "a", None, kind))
        y.append(1 if i >= 15 else 0)
        raw.append(1.0 + i / 10)
    for i, score in enumerate([5.0, 1.5, -3.0]):  # unlabelled: high, middle, below every reviewed score
        examples.append(example(f"u{i}", "t", "a", None, "negative"))
        y.append(-1)
        raw.append(score)
    papers = examples
    share, info = unlabelled_fp_share(examples, papers, np.array(y), np.array(raw), np.ones(len(y), dtype=bool))
    assert info["applied"] and info["reviewed"] == 40
    assert share[-3] == 0.0  # scores like the reviewed includes: not counted as a false positive
    assert share[-2] == 1.0  # scores like the reviewed excludes
    assert share[-1] == 1.0  # outside the reviewed range: counts fully
    assert (share[:40] == 1.0).all()
    none, info = unlabelled_fp_share(examples[40:], papers[40:], np.array(y[40:]), np.array(raw[40:]),
                                     np.ones(3, dtype=bool))
    assert not info["applied"] and (none == 1.0).all()


def test_unlabelled_sample_is_bounded_and_reproducible(tmp_path: Path):
    from lfmwatch.config import Config
    from lfmwatch.model.readers import collect_examples

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"2401.{i:05d}", "title": f"t {i}", "abstract": "a",
                                          "categories": ["cs.LG" if i % 3 else "math.AP"]}) + "\n"
                              for i in range(300)))
    labels = tmp_path / "l.jsonl"
    labels.write_text("".join(json.dumps({"id": pid, "section": "A > B", "title": "x", "abstract": "y"}) + "\n"
                              for pid in ("2401.00001", "2401.00003", "2312.00009")))
    runs = [collect_examples(Config(), labels=[labels], corpus=corpus, fetch_missing=False, max_unlabelled=50)
            for _ in range(2)]
    negs = [[e.id for e in ex if e.kind == "negative"] for ex, _ in runs]
    assert negs[0] == negs[1] and len(negs[0]) == 50
    assert runs[0][1]["unlabelled_seen"] == 199  # cs.LG only (math.AP is not configured), labels excluded
    assert "2401.00001" not in negs[0]
    # Stream papers: every unlabelled one, and labelled ones found in the corpus within the configured categories
    # (2401.00003 is math.AP, 2312.00009 is not in the corpus).
    ex, info = runs[0]
    assert all(e.stream for e in ex if e.kind == "negative")
    assert {e.id for e in ex if e.stream and e.kind != "negative"} == {"2401.00001"}
    assert info["stream_labelled"] == 1


def test_feedback_rows_become_examples(tmp_path: Path):
    from lfmwatch.model.fit import dedupe
    from lfmwatch.model.readers import feedback_examples
    from lfmwatch.store.db import open_store

    store = open_store(tmp_path / "state.db")
    rows = [
        ("2501.1", "accepted", "A > B", "pr#1", "2025-01-01"),
        ("2501.2", "rejected", None, "pr#1", "2025-01-01"),
        ("2501.3", "rejected", None, "pr#1", "2025-01-01"),
        ("2501.3", "moved", "A > C", "pr#2", "2025-02-01"),  # later decision wins
    ]
    for pid, label, section, source, created in rows:
        store.db["feedback"].insert({"paper_id": pid, "label": label, "section": section, "source": source,
                                     "created": created})
    ex = {e.id: e for e in feedback_examples(store)}
    assert ex["2501.1"].kind == "feedback_accepted" and ex["2501.1"].section == "A > B"
    assert ex["2501.2"].kind == "feedback_rejected" and ex["2501.2"].section is None
    assert ex["2501.3"].kind == "feedback_moved" and ex["2501.3"].section == "A > C"
    # A rejected proposal overrides a curated label of the same paper (but not a list entry).
    label = example("2501.2", "t", "a", "A > B", "label")
    papers, y, _ = dedupe([label, ex["2501.2"]])
    assert list(y) == [0]
    papers, y, _ = dedupe([example("2501.2", "t", "a", "A > B", "list"), ex["2501.2"]])
    assert list(y) == [1]
    store.close()


def test_read_jsonl_sniffs_gzip_and_survives_bad_bytes(tmp_path) -> None:
    import gzip as _gzip

    from lfmwatch.model.readers import read_jsonl

    packed = tmp_path / "papers.data"  # gzip without a .gz name (e.g. a renamed download)
    with _gzip.open(packed, "wt", encoding="utf-8") as fh:
        fh.write('{"id": "2501.00001"}\n\n[1, 2]\n')
    assert list(read_jsonl(packed)) == [(1, {"id": "2501.00001"}), (3, [1, 2])]
    plain = tmp_path / "papers.jsonl"
    plain.write_bytes(b'{"id": "a"}\n\xff\xfe not utf-8\n{"id": "b"}\n')
    assert list(read_jsonl(plain)) == [(1, {"id": "a"}), (2, None), (3, {"id": "b"})]
