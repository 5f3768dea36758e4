"""Backtest: replay, selection through the real select path, metrics, review simulation, report and CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from lfmwatch.awesome import parse_list
from lfmwatch.backtest import baselines as bl
from lfmwatch.backtest import replay as bt
from lfmwatch.errors import InputError

MERGE = "Model Reuse > Model Fusion > Weight Interpolation"
DISTIL = "Model Distillation > Generative Reconstruction"
ADAPT = "Model Tuning > Weight Enginerring > Adapter Tuning"
SECTIONS = [MERGE, DISTIL, ADAPT]
TOPICS = {
    MERGE: "model merging weight interpolation of fine-tuned checkpoints task arithmetic soup averaging",
    DISTIL: "knowledge distillation teacher student compression logits dark knowledge transfer",
    ADAPT: "adapter tuning low-rank adaptation lora parameter-efficient modules frozen backbone",
}
NOISE = ("protein folding molecular dynamics", "robot navigation lidar mapping", "galaxy survey redshift",
         "traffic forecasting graph sensors", "speech recognition accents", "medical image segmentation ct")


class Stub:
    """A ranker with fixed predictions per paper id: {id: (score, section)}; unknown ids are irrelevant."""

    def __init__(self, table: dict[str, tuple[float, str]], threshold: float = 0.5) -> None:
        self.table, self.threshold = table, threshold

    def predict(self, papers: Any) -> list[dict[str, Any]]:
        out = []
        for p in papers:
            score, section = self.table.get(p["id"], (0.0, MERGE))
            out.append({"relevant": score >= self.threshold, "score": score, "section": section,
                        "section_score": score, "sections": [[section, score]], "why": []})
        return out


def paper(pid: str, day: str, text: str = "", title: str | None = None) -> dict[str, Any]:
    return {"id": pid, "title": title or f"Paper {pid}", "abstract": text, "categories": ["cs.LG"], "day": day}


def selector(readme: str | None = None) -> bt.Selector:
    text = readme if readme is not None else bt.sections_markdown(SECTIONS)
    return bt.make_selector(parse_list(text, ["Table of Contents"]))


def test_metrics_on_a_hand_made_case() -> None:
    days = [("2025-01-01", [paper("a", "2025-01-01"), paper("b", "2025-01-01")]),
            ("2025-01-02", [paper("c", "2025-01-02"), paper("d", "2025-01-02"), paper("e", "2025-01-02")])]
    labels = {
        "a": [bt.Label("a", MERGE, "leaf")],
        "c": [bt.Label("c", DISTIL, "top")],
        "d": [bt.Label("d", ADAPT, "leaf"), bt.Label("d", MERGE, "top")],
        "zz": [bt.Label("zz", ADAPT, "leaf")],  # not replayed: not part of the truth
    }
    truth = bt.Truth.build(labels, days)
    assert truth.period == {"a": "2025-01-01", "c": "2025-01-02", "d": "2025-01-02"}
    proposals = [
        bt.Proposal("2025-01-01", "a", MERGE, 0.9),  # labelled, leaf right
        bt.Proposal("2025-01-01", "b", MERGE, 0.8),  # unlabelled: precision miss
        bt.Proposal("2025-01-02", "d", "Model Reuse > Model Ensemble", 0.7),  # area right (via top row), leaf wrong
    ]
    m = bt.score("x", proposals, truth, days, per_day=2)
    assert (m.found, m.labelled) == (2, 3) and m.recall == pytest.approx(2 / 3)
    assert m.precision == pytest.approx(2 / 3)
    assert (m.top_ok, m.top_n) == (2, 2)
    assert (m.leaf_ok, m.leaf_n) == (1, 2)
    assert m.counts == [2, 1] and m.day_median == 1.5 and m.day_max == 2
    assert m.per_section[MERGE] == (2, 2) and m.per_section[DISTIL] == (0, 1) and m.per_section[ADAPT] == (1, 1)
    assert (m.judged, m.judged_ok) == (2, 2)  # without reviews, only labelled proposals are judged
    cands = [[{"id": "a", "section": MERGE}, {"id": "b", "section": MERGE}],
             [{"id": "c", "section": "Model Distillation > Noise Optimization"}, {"id": "d", "section": MERGE},
              {"id": "e", "section": None}]]
    # Every labelled paper's predicted section, proposed or not: a (leaf ok), c (area ok), d (area ok via top row).
    assert bt.section_accuracy(cands, truth) == (3, 3, 1, 2)
    truth.reviewed = {"b": False, "e": True}
    m = bt.score("x", proposals, truth, days, per_day=2)
    assert (m.judged, m.judged_ok) == (3, 2)
    # Paired: only labelled papers both systems proposed (a, d), each filed by each system.
    other = [bt.Proposal("2025-01-01", "a", "Model Reuse > Model Ensemble", 0.9),  # area right, leaf wrong
             bt.Proposal("2025-01-02", "c", DISTIL, 0.9),  # only this system proposed c: not compared
             bt.Proposal("2025-01-02", "d", ADAPT, 0.6)]  # area and leaf right
    assert bt.paired_sections(proposals, other, truth) == {"n": 2, "a_ok": 2, "b_ok": 2, "leaf_n": 2, "leaf_a_ok": 1,
                                                           "leaf_b_ok": 1}


def test_per_day_cap_and_best_first() -> None:
    days, table = [], {}
    for d in range(3):
        day = f"2025-02-0{d + 1}"
        papers = [paper(f"{d}.{i:02d}", day) for i in range(12)]
        days.append((day, papers))
        for i, p in enumerate(papers[:8]):
            table[p["id"]] = (0.6 + i / 100, SECTIONS[i % 3])
    props = bt.select_days(days, bt.predict_days(Stub(table), days), selector(), per_day=3)
    per_day = {d: [p for p in props if p.day == d] for d, _ in days}
    assert all(len(v) == 3 for v in per_day.values())
    # The three best of each day (scores 0.67, 0.66, 0.65), never an irrelevant one.
    assert [p.id for p in per_day["2025-02-01"]] == ["0.07", "0.06", "0.05"]
    assert all(table.get(p.id, (0, ""))[0] >= 0.5 for p in props)


def test_dedupe_against_earlier_days_and_the_list() -> None:
    again = paper("2501.00001", "2025-03-03", title="Merging models again")
    days = [("2025-03-01", [paper("2501.00001", "2025-03-01", title="Merging models again")]),
            ("2025-03-02", [paper("2501.00002", "2025-03-02", title="Already listed paper")]),
            ("2025-03-03", [again, paper("2501.00003", "2025-03-03")])]
    table = {pid: (0.9, MERGE) for pid in ("2501.00001", "2501.00002", "2501.00003")}
    readme = (bt.sections_markdown(SECTIONS) + "\n- [[arXiv](https://arxiv.org/abs/2501.00002)] Already listed\n")
    props = bt.select_days(days, bt.predict_days(Stub(table), days), selector(readme), per_day=5)
    assert [(p.day, p.id) for p in props] == [("2025-03-01", "2501.00001"), ("2025-03-03", "2501.00003")]
    lst = parse_list(readme)
    truth = bt.Truth.build({"2501.00002": [bt.Label("2501.00002", MERGE)]}, days,
                           {e.arxiv_id for e in lst.entries if e.arxiv_id})
    assert truth.in_list == {"2501.00002"} and not truth.period


def test_budget_curve_recall_grows_with_the_budget() -> None:
    rng = random.Random(3)
    days, table, labels = [], {}, {}
    for d in range(4):
        day = f"2025-04-0{d + 1}"
        papers = [paper(f"4{d}.{i:02d}", day) for i in range(10)]
        days.append((day, papers))
        for p in papers:
            table[p["id"]] = (rng.random(), MERGE)
            if rng.random() < 0.4:
                labels[p["id"]] = [bt.Label(p["id"], MERGE)]
    truth = bt.Truth.build(labels, days)
    cands = bt.predict_days(Stub(table, 0.0), days)
    curve = bt.budget_curve(days, cands, selector(), truth, range(1, 11))
    recalls = [c[1] for c in curve]
    assert recalls == sorted(recalls) and recalls[-1] == pytest.approx(1.0)
    assert [c[3] for c in curve] == [4 * k for k in range(1, 11)]
    # Ranking recall: top K by score per day; the best paper of a day counts when it is labelled.
    top1 = sum(max(ps, key=lambda p: table[p["id"]][0])["id"] in labels for _, ps in days)
    assert bt.ranking_recall(cands, truth, [1, 10]) == [(1, pytest.approx(top1 / len(labels))), (10, 1.0)]
    # Threshold sweep: only the relevant flag changes; a higher threshold never proposes more.
    sweep = bt.threshold_sweep(days, cands, selector(), truth, 10, [1.1, 0.5, 0.0])
    assert [s[3] for s in sweep] == [0, sum(1 for v in table.values() if v[0] >= 0.5), 40]
    assert sweep[2][1] == pytest.approx(1.0)


def test_judge_like_a_reviewer() -> None:
    labels = {"a": [bt.Label("a", MERGE)], "b": [bt.Label("b", DISTIL, "top"), bt.Label("b", ADAPT, "leaf")]}
    assert bt.judge(bt.Proposal("d", "a", MERGE, 1), labels) == ("accepted", MERGE)
    assert bt.judge(bt.Proposal("d", "b", MERGE, 1), labels) == ("moved", ADAPT)
    assert bt.judge(bt.Proposal("d", "c", MERGE, 1), labels) == ("rejected", None)
    # Labels are a sample: a reviewer's include verdict saves an unlabelled proposal.
    assert bt.judge(bt.Proposal("d", "c", MERGE, 1), labels, {"c": True}) == ("accepted", MERGE)
    assert bt.judge(bt.Proposal("d", "c", MERGE, 1), labels, {"c": False}) == ("rejected", None)


def test_review_feeds_back_and_retrains_every_k_days() -> None:
    days = [(f"2025-05-0{d + 1}", [paper(f"5{d}.1", f"2025-05-0{d + 1}"), paper(f"5{d}.2", f"2025-05-0{d + 1}")])
            for d in range(5)]
    labels = {"50.1": [bt.Label("50.1", MERGE)], "51.1": [bt.Label("51.1", DISTIL)]}
    first = Stub({p["id"]: (0.9, MERGE) for _, ps in days for p in ps if p["id"].endswith(".1")})
    calls: list[list[dict[str, Any]]] = []

    def retrain(feedback: list[dict[str, Any]]) -> Stub:
        calls.append(feedback)
        # The retrained ranker has learned nothing new but proposes the ".2" papers too.
        return Stub({p["id"]: (0.9, MERGE) for _, ps in days for p in ps})

    props, rounds = bt.replay_with_review(days, first, selector(), 5, labels, 2, retrain)
    assert len(calls) == 2 and [r.day for r in rounds] == ["2025-05-02", "2025-05-04"]
    assert {f["id"]: f["label"] for f in calls[0]} == {"50.1": "accepted", "51.1": "moved"}
    assert [f["section"] for f in calls[0] if f["id"] == "51.1"] == [DISTIL]
    assert len(calls[1]) == 6 and calls[1][2]["label"] == "rejected"  # feedback accumulates
    assert (rounds[0].accepted, rounds[0].moved, rounds[0].rejected) == (1, 1, 0)
    assert {p.id for p in props} >= {"52.2", "53.2", "54.2"} and "50.2" not in {p.id for p in props}


def test_released_by_uses_listing_day_then_id_month() -> None:
    assert bt.released_by("2504.01234", "2025-03-30", "2025-03-31")
    assert not bt.released_by("2504.01234", None, "2025-03-31")
    assert bt.released_by("2503.01234", None, "2025-03-31")
    assert bt.released_by("cs/0101001", None, "2025-03-31")


def test_load_corpus_filters_categories_and_days(tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    rows = [{"id": "1", "title": "t", "abstract": "a", "categories": ["cs.LG"], "listed": "2025-01-02"},
            {"id": "2", "title": "t", "abstract": "a", "categories": ["math.AP"], "listed": "2025-01-02"},
            {"id": "3", "title": "t", "abstract": "a", "categories": ["stat.ML", "cs.CL"], "published": "2025-01-01T10:00:00"},
            {"id": "4", "title": "t", "abstract": "a", "categories": ["cs.CL"], "listed": "2025-02-01"}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    papers, bad = bl.load_corpus(f, ["cs.LG", "cs.CL"], until="2025-01-31")
    assert [(p["id"], p["day"]) for p in papers] == [("3", "2025-01-01"), ("1", "2025-01-02")] and bad == 1
    assert [d for d, _ in bt.split_days(papers, "2025-01-02", "2025-01-05")] == ["2025-01-02"]
    with pytest.raises(InputError):
        bl.load_corpus(tmp_path / "missing.jsonl")
