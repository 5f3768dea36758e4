"""Retention (lfmwatch.store.retention): what compaction keeps, drops and reports; `lfmwatch compact`; status."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from fakes.cli_run import run
from lfmwatch.store.db import Store, utcnow
from lfmwatch.store.ledger import blocked_ids, record_feedback, set_proposal_status
from lfmwatch.store.papers import upsert_papers
from lfmwatch.store.retention import RetentionPolicy, compact, retention_summary, stream_sample

TODAY = date(2026, 3, 20)


def _paper(i: int, day: date, cat: str = "cs.LG") -> dict:
    return {"id": f"2603.{i:05d}", "title": f"Paper {i} about things", "abstract": f"Abstract {i} " * 40,
            "authors": ["A. B"], "categories": [cat], "listed": day.isoformat(), "published": day.isoformat()}


def _predict(store: Store, pid: str, relevant: int, score: float, version: str = "m2") -> None:
    store.db["predictions"].insert({"paper_id": pid, "model_version": version, "relevant": relevant, "score": score,
                                    "section": "A > B", "section_score": 0.5, "sections": "[]", "why": "[]",
                                    "created": utcnow()}, replace=True)


@pytest.fixture
def stocked(store: Store) -> Store:
    """60 days x 10 papers, all classified by model m2 (and the first 100 by an older m1); some in the ledger."""
    papers = [_paper(d * 10 + k, TODAY - timedelta(days=59 - d), "cs.LG" if k % 5 else "math.AP")
              for d in range(60) for k in range(10)]
    upsert_papers(store, papers, "arxiv")
    for i, p in enumerate(papers):
        _predict(store, p["id"], relevant=int(i in (3, 13, 23)), score=0.9 if i in (3, 13, 23) else 0.1)
        if i < 100:
            _predict(store, p["id"], relevant=0, score=0.05, version="m1")
    _predict(store, "2603.00033", relevant=1, score=0.8, version="m1")  # relevant only to an older model
    set_proposal_status(store, "2603.00040", "proposed", pr_number=1)
    set_proposal_status(store, "2603.00041", "rejected", pr_number=1)
    set_proposal_status(store, "2603.00042", "ignored")
    set_proposal_status(store, "2603.00043", "selected")
    record_feedback(store, "2603.00050", "moved", "pr#1", section="A > C")
    record_feedback(store, "2603.00051", "ignored", "comment#9")
    store.db["summaries"].insert({"paper_id": "2603.00060", "model": "x", "prompt_version": "1", "status": "ok",
                                  "summary": "s", "tokens": 1, "created": utcnow()})
    upsert_papers(store, [_paper(900, TODAY - timedelta(days=40))], "arxiv")  # never classified
    return store


LEDGER = {"2603.00040", "2603.00041", "2603.00042", "2603.00043", "2603.00050", "2603.00051", "2603.00060"}
RELEVANT = {"2603.00003", "2603.00013", "2603.00023", "2603.00033"}


def test_compaction_keeps_the_ledger_the_relevant_the_window_and_the_sample(stocked: Store) -> None:
    policy = RetentionPolicy(window_days=3, sample_size=45, categories=("cs.LG",), relevant_days=60)
    blocked = blocked_ids(stocked)
    dry = compact(stocked, policy, dry_run=True, today=TODAY)
    assert stocked.db["papers"].count == 601 and dry.papers_dropped > 0  # a dry run changes nothing
    report = compact(stocked, policy, today=TODAY)
    assert (report.papers_dropped, report.predictions_dropped) == (dry.papers_dropped, dry.predictions_dropped)
    kept = {r[0] for r in stocked.db.execute("SELECT id FROM papers")}
    window = {f"2603.{d * 10 + k:05d}" for d in (57, 58, 59) for k in range(10)}  # the last 3 days, all categories
    sample = [p["id"] for p in stream_sample(stocked, 45, ["cs.LG"])]
    assert len(sample) == 45 and all(int(pid[5:]) % 5 for pid in sample)  # newest 45 of cs.LG only
    assert kept == LEDGER | RELEVANT | window | set(sample) | {"2603.00900"}
    assert report.papers_after == len(kept) and report.kept_by["ledger"] == len(LEDGER)
    assert report.kept_by["relevant"] == 4 and report.kept_by["unclassified"] == 1
    # Nothing the bot decided is forgotten: proposals, feedback and the blocked set are unchanged.
    assert blocked_ids(stocked) == blocked and stocked.db["proposals"].count == 4 and stocked.db["feedback"].count == 2
    # Predictions: none of dropped papers; an older model's only where it said relevant.
    preds = stocked.db.execute("SELECT paper_id, model_version, relevant FROM predictions").fetchall()
    assert {p for p, _, _ in preds} <= kept
    assert {(p, r) for p, v, r in preds if v == "m1"} == {("2603.00033", 1)}
    # The full-text index follows the table, and a second compaction has nothing to do.
    assert stocked.db.execute("SELECT count(*) FROM papers_fts").fetchone()[0] == len(kept)
    assert compact(stocked, policy, today=TODAY).papers_dropped == 0


def test_the_stream_day_is_the_newest_paper_not_the_clock(stocked: Store) -> None:
    # A year later nothing new came in (e.g. an imported corpus): the last 3 days of the stream still count.
    later = compact(stocked, RetentionPolicy(window_days=3, sample_size=0), today=TODAY + timedelta(days=365))
    assert later.reference_day == TODAY.isoformat()
    assert stocked.db.execute("SELECT count(*) FROM papers WHERE listed >= ?",
                              [(TODAY - timedelta(days=2)).isoformat()]).fetchone()[0] == 30


def test_relevant_papers_not_proposed_go_after_relevant_days(stocked: Store) -> None:
    set_proposal_status(stocked, "2603.00013", "proposed", pr_number=2)
    compact(stocked, RetentionPolicy(window_days=1, sample_size=0, relevant_days=30), today=TODAY)
    kept = {r[0] for r in stocked.db.execute("SELECT id FROM papers")}
    assert "2603.00013" in kept  # proposed: kept for good
    assert not {"2603.00003", "2603.00023", "2603.00033"} & kept  # relevant 57-59 days ago, never proposed


def test_threshold_override_keeps_the_papers_it_makes_candidates(stocked: Store) -> None:
    _predict(stocked, "2603.00007", relevant=0, score=0.45)
    compact(stocked, RetentionPolicy(window_days=1, sample_size=0, keep_score=0.4, relevant_days=60), today=TODAY)
    assert stocked.db.execute("SELECT 1 FROM papers WHERE id = '2603.00007'").fetchone()
    assert not stocked.db.execute("SELECT 1 FROM papers WHERE id = '2603.00008'").fetchone()


def test_policy_from_config_follows_the_poll_overlap() -> None:
    from lfmwatch.config import Config

    config = Config()
    config.arxiv.overlap_days, config.model.threshold = 4, 0.3
    policy = RetentionPolicy.from_config(config)
    assert policy.window_days == 5 and policy.keep_score == 0.3 and "cs.LG" in policy.categories


def test_compact_cli_dry_run_then_real_and_status(stocked: Store, tmp_path) -> None:
    stocked.close()
    (tmp_path / "lfmwatch.toml").write_text('[arxiv]\noverlap_days = 1\ncategories = ["cs.LG"]\n')
    code, out = run("status", "--json")
    assert code == 0, out
    info = json.loads(out)["store"]
    assert info["papers"] == 601 and info["window_days"] == 2 and info["bytes"] > 0
    # Every cs.LG paper fits in the 5000 sample; of the 120 math.AP papers, 4 are in the last 2 days and 3 in the
    # ledger: 113 go.
    code, out = run("compact", "--dry-run")
    assert code == 0 and out.startswith("dry run: would drop 113 of 601 papers"), out
    with Store(tmp_path / "state.db") as store:
        assert store.db["papers"].count == 601
    code, out = run("compact")
    assert code == 0 and out.startswith("dropped 113 of 601 papers"), out
    code, out = run("compact")
    assert code == 0 and "nothing to compact" in out, out
    code, out = run("status")
    assert code == 0 and "488 papers; retention keeps 488" in out and "would drop 0" in out, out


def test_summary_counts_without_changing_anything(stocked: Store) -> None:
    info = retention_summary(stocked, RetentionPolicy(window_days=3, sample_size=45, categories=("cs.LG",)), TODAY)
    assert info["papers"] == 601 and info["kept"] + info["droppable"] == 601 and info["kept_by"]["window"] == 30
    assert stocked.db["papers"].count == 601
