"""The learning loop where the bot runs: `lfmwatch train` without data arguments reads the list from GitHub (the
fake), feedback and the stream from state.db and the bundle beside the model; the quality gate keeps a worse model
out; a closed PR blocks its papers without collapsing their scores. Tiny synthetic data: each fit takes < 1 s."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.cli_run import run
from fakes.github_fake import GitHubFake
from lfmwatch.model.bundle import write_bundle
from lfmwatch.store.db import Store, utcnow
from lfmwatch.store.ledger import record_feedback, set_proposal_status
from test_model import NEG_TOPICS, SECTIONS, _text

REPO, TOKEN = "lfm/awesome", "bot-token"
WI, MEM, LOC = list(SECTIONS)
README = """# Learn From Model

## Model Reuse

### Model Fusion

#### Weight Interpolation

{wi}

## Model Editing

### Memory Based Model Editing

{mem}

### Parameter Based Model Editing

#### Locate And Edit

{loc}

## Citation

Cite us.
"""
assert WI.endswith("Weight Interpolation") and MEM.endswith("Memory Based Model Editing")


def _readme() -> str:
    parts = {}
    for s, key in enumerate(("wi", "mem", "loc")):
        parts[key] = "\n\n".join(f"- [[arXiv](https://arxiv.org/abs/2301.{s}000{i})] Entry {s} {i}" for i in range(3))
    return README.format(**parts)


def bundle_rows(seed: int = 0, flipped: bool = False) -> list[dict[str, Any]]:
    """Labels, reviews, the README entries' texts and unlabelled papers; `flipped` swaps what the labels and the
    unlabelled papers are about (a training set that teaches the opposite), reviews stay true."""
    rng = random.Random(seed)
    topics = list(SECTIONS.items())
    rows: list[dict[str, Any]] = [{"kind": "meta", "id": "", "unlabelled_seen": 200}]
    for s, (section, topic) in enumerate(topics):
        for i in range(3):
            if (s, i) != (2, 2):  # one README entry the bundle does not know
                rows.append({"kind": "text", "id": f"2301.{s}000{i}", "title": _text(rng, topic, 8),
                             "abstract": _text(rng, topic)})
        for i in range(12):
            t = NEG_TOPICS[(s + i) % len(NEG_TOPICS)] if flipped else topic
            rows.append({"kind": "label", "id": f"2302.{s}{i:04d}", "section": section, "precision": "leaf",
                         "title": _text(rng, t, 8), "abstract": _text(rng, t), "stream": True})
        for i in range(8):
            rows.append({"kind": "reviewed", "id": f"2303.{s}{i:04d}", "include": True, "section": section,
                         "title": _text(rng, topic, 8), "abstract": _text(rng, topic), "stream": True})
    for i in range(15):
        t = NEG_TOPICS[i % len(NEG_TOPICS)]
        rows.append({"kind": "reviewed", "id": f"2303.9{i:04d}", "include": False, "section": None,
                     "title": _text(rng, t, 8), "abstract": _text(rng, t), "stream": True})
    for i in range(200):
        t = topics[i % 3][1] if flipped else NEG_TOPICS[i % len(NEG_TOPICS)]
        rows.append({"kind": "unlabelled", "id": f"2304.{i:05d}", "title": _text(rng, t, 8), "abstract": _text(rng, t),
                     "listed": "2024-06-01"})
    return rows


def seed_store(store: Store, seed: int = 3) -> dict[str, list[str]]:
    """The stream of the last 10 days (mostly off-topic) and six decided proposals with their feedback."""
    rng = random.Random(seed)
    ids: dict[str, list[str]] = {"accepted": [], "rejected": []}

    def paper(pid: str, topic: str, day: int) -> None:
        store.db["papers"].insert({"id": pid, "title": _text(rng, topic, 8), "abstract": _text(rng, topic),
                                   "authors": "[]", "categories": '["cs.LG"]', "source": "test",
                                   "listed": f"2025-01-{day:02d}"}, replace=True)

    for i in range(80):
        paper(f"2501.{i:05d}", NEG_TOPICS[i % len(NEG_TOPICS)], 1 + i % 10)
    for i in range(3):
        pid = f"2501.1{i:04d}"
        paper(pid, SECTIONS[WI], 1 + i)
        record_feedback(store, pid, "accepted", "pr#7", section=WI, proposed_section=WI)
        set_proposal_status(store, pid, "accepted", section=WI, pr_number=7)
        ids["accepted"].append(pid)
        pid = f"2501.2{i:04d}"
        paper(pid, NEG_TOPICS[i], 1 + i)
        record_feedback(store, pid, "rejected", "pr#7", proposed_section=WI)
        set_proposal_status(store, pid, "rejected", section=WI, pr_number=7)
        ids["rejected"].append(pid)
    store.db["pull_requests"].insert({"number": 7, "repo": REPO, "branch": "lfmwatch/papers", "state": "merged", "synced_at": utcnow(),
                                      "created": utcnow()})
    return ids


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubFake]:
    """A bot repo copy in tmp_path (lfmwatch.toml, models/ with the bundle, state.db) and the list on the fake."""
    fake = GitHubFake().start()
    fake.add_token(TOKEN, "lfmwatch-bot", push={REPO})
    fake.create_repo(REPO, {"README.md": _readme()})
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    # model.path set: never the packaged default model (a fresh bot repo copy trains its own first model).
    (tmp_path / "lfmwatch.toml").write_text(f'[target]\nrepo = "{REPO}"\n\n[select]\nmax_per_run = 3\n\n'
                                            '[model]\npath = "models/lfm-model.npz"\n')
    rows = bundle_rows()
    write_bundle(rows, {"counts": {}}, tmp_path / "models" / "lfm-bundle.jsonl.gz", "test")
    with Store(tmp_path / "state.db") as store:
        seed_store(store)
    try:
        yield fake
    finally:
        fake.stop()


def card() -> dict[str, Any]:
    return json.loads(Path("models/lfm-model.card.json").read_text())


def test_train_without_data_reads_the_list_from_github_and_feedback_from_state(world: GitHubFake,
                                                                               tmp_path: Path) -> None:
    assert not (tmp_path.parent / "shared").exists() and not (tmp_path / ".." / "shared" / "data").exists()
    code, out = run("train", "--no-fetch")
    assert code == 0, out
    assert "model trained (no current model)" in out
    assert Path("models/lfm-model.npz").is_file()
    c = card()
    src = c["sources"]
    assert src["readme"] == {"from": f"{REPO}@main:README.md", "entries": 9, "without_abstract": 1}
    assert world.count("GET", "/contents/README.md") >= 1
    assert src["feedback"] == {"papers": 6, "feedback_accepted": 3, "feedback_rejected": 3}
    assert src["store_sample"]["papers"] == 80 and src["bundle"]["labels"] == 36
    kinds = c["data"]["examples_by_kind"]
    assert kinds["list"] == 9 and kinds["feedback_accepted"] == 3 and kinds["reviewed_neg"] == 15
    gate = c["gate"]
    assert gate["verdict"] == "first model" and gate["judged"] == 24 + 15 + 6
    assert len(gate["oof"]["ids"]) == gate["judged"] and "oof_judged" not in c
    assert c["effect"]["stored_papers"] == 86 and c["effect"]["recent_days"] == 10
    code, out = run("status")
    assert code == 0 and "last retrain" in out and "model trained (no current model)" in out
    assert "next retrain" in out


def test_a_worse_challenger_is_refused_and_the_champion_stays(world: GitHubFake, tmp_path: Path) -> None:
    assert run("train", "--no-fetch")[0] == 0
    model = Path("models/lfm-model.npz")
    champion_bytes, champion_card = model.read_bytes(), card()
    write_bundle(bundle_rows(flipped=True), {"counts": {}}, tmp_path / "models" / "lfm-bundle.jsonl.gz", "test")
    code, out = run("train", "--no-fetch")
    assert code == 0, out
    assert "retrained model refused, current model kept" in out
    assert model.read_bytes() == champion_bytes and card() == champion_card
    refused = json.loads(Path("models/lfm-model.challenger.card.json").read_text())
    gate = refused["gate"]
    assert gate["verdict"] == "refused" and gate["reasons"]
    champ, chall = gate["champion"], gate["challenger"]
    assert any(chall[m] is None or chall[m] < champ[m] for m in ("precision", "recall", "section_accuracy"))
    assert gate["reasons"][0].split()[0] in ("precision", "recall", "section")
    # status and the next run's summary say why.
    info = json.loads(run("status", "--json")[1])
    assert info["retrain"]["verdict"] == "refused" and info["retrain"]["reasons"] == gate["reasons"]
    from lfmwatch.run.pipeline import _retrain_since_last_run
    from lfmwatch.run.report import RunReport
    from lfmwatch.run.runlog import markdown_summary

    with Store(tmp_path / "state.db") as store:
        line = _retrain_since_last_run(store, None)
    assert "refused" in line and gate["reasons"][0].split()[0] in line
    assert "Model retrained since the last run" in markdown_summary(RunReport(status="ok", retrain=line))
    # --force installs it anyway, and the card says so.
    code, out = run("train", "--no-fetch", "--force")
    assert code == 0 and "installed by --force" in out
    assert model.read_bytes() != champion_bytes and card()["gate"]["verdict"] == "forced"
    assert not Path("models/lfm-model.challenger.card.json").exists()


def test_dry_run_retrain_writes_nothing(world: GitHubFake) -> None:
    code, out = run("train", "--no-fetch", "--dry-run")
    assert code == 0 and out.strip().splitlines()[-1].startswith("dry run: model trained")
    assert not Path("models/lfm-model.npz").exists()
    with Store("state.db") as store:
        assert store.last_runs("train") == []


def test_closed_pr_blocks_its_papers_without_collapsing_their_scores(world: GitHubFake, tmp_path: Path) -> None:
    from lfmwatch.config import load_config
    from lfmwatch.model.io import load_model
    from lfmwatch.pr.propose import propose
    from lfmwatch.pr.sync import sync
    from lfmwatch.run.classify import classify_store
    from propose_fixtures import session_for

    assert run("train", "--no-fetch")[0] == 0
    cfg = load_config(tmp_path / "lfmwatch.toml")
    rng = random.Random(11)
    good = [f"2502.0000{i}" for i in range(3)]
    with Store(tmp_path / "state.db") as store:
        for pid in good:  # correct papers, squarely in a section the list has
            store.db["papers"].insert({"id": pid, "title": _text(rng, SECTIONS[WI], 8),
                                       "abstract": _text(rng, SECTIONS[WI]), "authors": "[]",
                                       "categories": '["cs.LG"]', "source": "test", "listed": "2025-01-11"})
        m1 = load_model(cfg.model.path)
        classify_store(store, m1)
        before = {r["paper_id"]: r["score"] for r in store.db.query(
            "SELECT paper_id, score FROM predictions WHERE model_version = ?", [m1.version])}
        first = propose(store, cfg, session_for(world))
        assert set(good) <= set(first.proposed) and len(first.proposed) <= 3
        world.close_pull(REPO, first.pr_number)
        res = sync(store, cfg, session_for(world))
        assert res.counts["closed"] == len(first.proposed) and res.counts["rejected"] == 0
    code, out = run("train", "--no-fetch", "--force")
    assert code == 0, out
    c = card()
    assert c["data"]["examples_by_kind"]["feedback_closed"] == len(first.proposed)
    with Store(tmp_path / "state.db") as store:
        m2 = load_model(cfg.model.path)
        assert m2.version != m1.version
        classify_store(store, m2)  # the next run re-scores the whole store with the new model
        after = {r["paper_id"]: r for r in store.db.query(
            "SELECT paper_id, score, relevant FROM predictions WHERE model_version = ?", [m2.version])}
        assert len(after) == store.db["papers"].count
        for pid in good:
            assert after[pid]["score"] >= 0.5 * before[pid], (pid, before[pid], after[pid]["score"])
            assert after[pid]["relevant"] == 1
        again = propose(store, cfg, session_for(world))
        assert not set(again.proposed) & set(first.proposed)


def test_status_and_summary_show_what_a_retrain_changed(world: GitHubFake) -> None:
    assert run("train", "--no-fetch")[0] == 0
    code, out = run("train", "--no-fetch", "--force")
    assert code == 0
    info = json.loads(run("status", "--json")[1])["retrain"]
    eff = info["effect"]
    assert eff["stored_papers"] == 86 and eff["verdict_changed"] == eff["now_relevant"] + eff["no_longer_relevant"]
    assert eff["flagged_per_day"]["old"] is not None and eff["flagged_per_day"]["new"] is not None
    thr = info["threshold"]
    assert thr["champion"] is not None and thr["used"] >= min(thr["champion"], thr["trained"])
    assert "threshold" in info["line"] and "flagged per day" in info["line"] and "change verdict" in info["line"]


class _NoNewPapers:
    """A PaperSource whose every window is empty (the run's poll finds nothing; the store is what counts)."""

    class _Stream(list):  # type: ignore[type-arg]
        total = 0

    def search(self, query: str, max_results: int | None = None) -> Any:
        return self._Stream()


def test_the_next_run_rescores_the_store_never_reproposes_decided_papers_and_keeps_the_cap(
        world: GitHubFake, tmp_path: Path) -> None:
    from lfmwatch.config import load_config
    from lfmwatch.run.pipeline import Adapters, run_daily
    from propose_fixtures import session_for

    assert run("train", "--no-fetch")[0] == 0
    rng = random.Random(5)
    with Store(tmp_path / "state.db") as store:
        for i in range(8):  # more correct papers than the daily cap (select.max_per_run = 3)
            store.db["papers"].insert({"id": f"2502.1000{i}", "title": _text(rng, SECTIONS[WI], 8),
                                       "abstract": _text(rng, SECTIONS[WI]), "authors": "[]",
                                       "categories": '["cs.LG"]', "source": "test", "listed": "2025-01-12"})
    code, out = run("train", "--no-fetch", "--force")
    assert code == 0, out
    cfg = load_config(tmp_path / "lfmwatch.toml")
    with Store(tmp_path / "state.db") as store:
        n_papers = store.db["papers"].count
        report = run_daily(store, cfg, adapters=Adapters(source=_NoNewPapers(), github=lambda: session_for(world)))
        assert report.status == "ok", (report.error, report.line())
        assert report.stage("classify").counts["classified"] == n_papers  # the whole store, with the new model
        proposed = [p["id"] for p in report.proposed]
        assert 0 < len(proposed) <= 3
        decided = {r["paper_id"] for r in store.db.query("SELECT paper_id FROM feedback")}
        assert not decided & set(proposed)
        assert "retrained model installed" in report.retrain  # the run summary says what the retrain changed
        again = run_daily(store, cfg, adapters=Adapters(source=_NoNewPapers(), github=lambda: session_for(world)))
        assert again.proposed == [] and again.retrain == ""  # same day: the cap is spent; no new retrain


def test_daemon_runs_the_gated_retrain_on_its_own_cron(world: GitHubFake, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from fakes.arxiv_emulator import ArxivEmulator
    from lfmwatch.config import load_config
    from lfmwatch.run.daemon import make_daemon, next_fire_times

    # The README entry the bundle does not know gets its abstract from arXiv (the emulator).
    missing = {"id": "2301.20002", "title": "Entry 2 2", "abstract": _text(random.Random(2), SECTIONS[LOC]),
               "authors": ["A B"], "categories": ["cs.LG"], "published": "2023-01-05T00:00:00Z"}
    emu = ArxivEmulator([missing]).start()
    monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", emu.url)
    (tmp_path / "lfmwatch.toml").write_text((tmp_path / "lfmwatch.toml").read_text() + "\n[arxiv]\ndelay_seconds = 0\n")

    cfg = load_config(tmp_path / "lfmwatch.toml")
    cfg.schedule.retrain_cron = "7 3 * * 3"
    daemon = make_daemon(cfg)
    assert set(daemon.jobs) == {"run", "digest", "retrain"}
    assert next_fire_times(cfg)["retrain"].endswith("03:07:00+00:00")
    with Store(tmp_path / "state.db") as store:
        outcome = daemon.jobs["retrain"](store, threading.Event())
        assert outcome.verdict == "first model" and Path("models/lfm-model.npz").is_file()
        assert store.last_runs("train")[0]["status"] == "ok"
    emu.stop()
    assert card()["sources"]["readme"]["without_abstract"] == 0 and card()["text_sources"]["fetched"] == 1
