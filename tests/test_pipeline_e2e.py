"""`lfmwatch run` end to end: loopback arXiv emulator + GitHub fake (driven by PyGithub) + a tiny trained model."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fakes.arxiv_emulator import ArxivEmulator
from fakes.github_fake import GitHubFake
from lfmwatch.cli import cli
from lfmwatch.config import load_config
from lfmwatch.run.pipeline import Adapters, run_daily
from lfmwatch.store.db import Store

REPO = "owner/list"
TOKEN = "ghp_testtoken0000000000000000000000000000"
WI = "Model Reuse > Model Fusion > Weight Interpolation"
FT = "Model Tuning > Weight Enginerring > Fine Tuning"
README = """# Awesome Learn from Model

## Table of Contents
- [Model Tuning](#model-tuning)

## Model Tuning

### Weight Enginerring

#### Fine Tuning

- [[arXiv](https://arxiv.org/abs/2301.00001)] LoRA: low-rank adaptation of large language models

## Model Reuse

### Model Fusion

#### Weight Interpolation

- [[arXiv](https://arxiv.org/abs/2301.00002)] Model soups: averaging weights of fine-tuned models

## Citation

Cite us.
"""
MERGE = ["model merging", "weight averaging", "interpolate weights", "model soups", "task arithmetic",
         "merge fine-tuned models"]
TUNE = ["parameter-efficient fine-tuning", "low-rank adaptation", "fine-tune pretrained language models",
        "adapter tuning", "instruction fine-tuning", "full fine-tuning"]
OTHER = ["protein folding", "galaxy survey", "traffic forecasting", "robot grasping", "speech enhancement",
         "medical image segmentation", "graph coloring", "weather prediction"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained through the classifier's own training API on synthetic examples."""
    from lfmwatch.model.examples import example
    from lfmwatch.model.fit import fit_model
    from lfmwatch.model.io import save_model

    rng = random.Random(0)
    examples = []
    for section, words in ((WI, MERGE), (FT, TUNE)):
        for _ in range(12):
            w = rng.sample(words, 3)
            examples.append(example(f"2401.{len(examples):05d}", f"On {w[0]} and {w[1]}",
                                    f"We study {w[0]}, {w[1]} and {w[2]} for pretrained models.", section, "label"))
    for i in range(60):
        w = rng.sample(OTHER, 3)
        examples.append(example(f"2402.{i:05d}", f"A study of {w[0]} with {w[1]}",
                                f"We address {w[0]}, {w[1]} and {w[2]} with deep networks.", None, "negative"))
    model = fit_model(examples, sections=[FT, WI], target_precision=0.8)
    out = tmp_path_factory.mktemp("model") / "tiny.npz"
    save_model(model, out)
    return out


def arxiv_papers() -> list[dict[str, Any]]:
    """Yesterday's and the day before's papers: 4 on merging/tuning (one already in the list), 6 off-topic."""
    today = datetime.now(UTC).date()
    days = [str(today - timedelta(days=1)), str(today - timedelta(days=2))]
    relevant = [
        ("2611.00011", "Merging fine-tuned models by weight averaging", "Model soups interpolate weights; "
         "task arithmetic and model merging of fine-tuned models."),
        ("2611.00012", "Task arithmetic for model merging", "We merge fine-tuned models with weight averaging "
         "and interpolate weights."),
        ("2611.00013", "Parameter-efficient fine-tuning with adapter tuning", "Low-rank adaptation and adapter "
         "tuning to fine-tune pretrained language models."),
        ("2301.00002", "Model soups: averaging weights of fine-tuned models", "Model soups: weight averaging "
         "and model merging of fine-tuned models."),  # already in the README
    ]
    out = [{"id": pid, "title": t, "abstract": a, "authors": ["A. Author"], "categories": ["cs.LG"],
            "published": days[i % 2]} for i, (pid, t, a) in enumerate(relevant)]
    for i, topic in enumerate(OTHER[:6]):
        out.append({"id": f"2611.{100 + i:05d}", "title": f"Deep learning for {topic}",
                    "abstract": f"We address {topic} with deep networks.", "authors": ["B. Author"],
                    "categories": ["cs.CV"], "published": days[i % 2]})
    return out


@pytest.fixture
def world(tiny_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[ArxivEmulator, GitHubFake]]:
    (tmp_path / "models").mkdir()
    shutil.copy(tiny_model, tmp_path / "models" / "tiny.npz")
    shutil.copy(tiny_model.with_name("tiny.card.json"), tmp_path / "models" / "tiny.card.json")
    (tmp_path / "lfmwatch.toml").write_text(
        f'[target]\nrepo = "{REPO}"\n'
        "[arxiv]\ndelay_seconds = 0\nbackoff_seconds = 0.01\ntimeout_seconds = 5\nmax_retries = 1\n"
        '[model]\npath = "models/tiny.npz"\nthreshold = 0.5\n'
    )
    with ArxivEmulator(arxiv_papers()) as emu, GitHubFake() as gh:
        gh.add_token(TOKEN, push={REPO})
        gh.create_repo(REPO, {"README.md": README})
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", emu.url)
        monkeypatch.setenv("GITHUB_API_URL", gh.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        yield emu, gh


def snapshot(db: Path) -> dict[str, Any]:
    """What a rerun must not change: papers, predictions, proposals, pull requests, feedback."""
    with Store(db) as store:
        q = store.db.execute
        return {
            "papers": q("SELECT id, version, title FROM papers ORDER BY id").fetchall(),
            "predictions": q("SELECT paper_id, model_version, relevant FROM predictions ORDER BY 1").fetchall(),
            "proposals": q("SELECT paper_id, section, status, pr_number FROM proposals ORDER BY 1").fetchall(),
            "pulls": q("SELECT number, state, branch FROM pull_requests ORDER BY 1").fetchall(),
            "feedback": q("SELECT paper_id, label FROM feedback ORDER BY 1").fetchall(),
        }


EXPECTED = {"2611.00011", "2611.00012", "2611.00013"}


def branch_ids(gh: GitHubFake) -> list[str]:
    text = gh.file(REPO, "README.md", "lfmwatch/papers") or ""
    return [pid for pid in EXPECTED | {"2301.00002"} for _ in range(text.count(f"abs/{pid})"))]


def test_run_proposes_end_to_end_and_a_second_run_changes_nothing(
    world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path
) -> None:
    _, gh = world
    first = CliRunner().invoke(cli, ["run"])
    assert first.exit_code == 0, first.output
    assert "proposed 3 paper(s) in PR #1" in first.output
    pulls = gh.pulls(REPO)
    assert len(pulls) == 1 and pulls[0]["state"] == "open"
    assert sorted(branch_ids(gh)) == sorted(EXPECTED | {"2301.00002"})  # each once; the listed one untouched
    readme = gh.file(REPO, "README.md", "lfmwatch/papers")
    assert readme.index("2611.00013") < readme.index("## Model Reuse")  # filed under Fine Tuning
    assert readme.index("2611.00011") > readme.index("#### Weight Interpolation")
    head = gh.branches(REPO)["lfmwatch/papers"]
    before = snapshot(tmp_path / "state.db")
    assert {row[0] for row in before["proposals"] if row[2] == "proposed"} == EXPECTED

    second = CliRunner().invoke(cli, ["run"])
    assert second.exit_code == 0, second.output
    assert "no paper proposed:" in second.output
    assert snapshot(tmp_path / "state.db") == before
    assert gh.branches(REPO)["lfmwatch/papers"] == head and len(gh.pulls(REPO)) == 1

    status = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)
    runs = status["daily_runs"]
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert runs[1]["counts"]["proposed"] == 3 and runs[0]["counts"]["proposed"] == 0
    assert runs[0]["reason"].startswith("no new papers in the window")
    assert status["open_pr"]["number"] == 1 and status["open_pr"]["papers"] == 3
    assert status["model"]["threshold"] is not None and status["model"]["created"]


def test_a_run_killed_at_pr_creation_converges_on_rerun(
    world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path
) -> None:
    _, gh = world
    from lfmwatch.adapters.github import GitHubSettings, connect

    config = load_config()
    # No client retries: the injected failures must reach the bot, as a crash at that point would.
    adapters = lambda: Adapters(github=lambda: connect(GitHubSettings(api_url=gh.url, token=TOKEN, retries=0)))  # noqa: E731
    gh.fail_next("POST", r"/pulls$", 502, times=1)
    with Store(tmp_path / "state.db") as store:
        report = run_daily(store, config, adapters=adapters())
    assert report.status == "failed" and report.failed_stage() == "propose"
    assert gh.pulls(REPO) == [] and sorted(branch_ids(gh)) == sorted(EXPECTED | {"2301.00002"})

    with Store(tmp_path / "state.db") as store:
        report = run_daily(store, config, adapters=adapters())
        assert report.status == "ok", report.line()
        rows = store.db.execute("SELECT paper_id, status, pr_number FROM proposals ORDER BY 1").fetchall()
    assert [(pid, status, n) for pid, status, n in rows] == [(pid, "proposed", 1) for pid in sorted(EXPECTED)]
    assert len(gh.pulls(REPO)) == 1
    assert sorted(branch_ids(gh)) == sorted(EXPECTED | {"2301.00002"})  # nothing lost, nothing twice

    with Store(tmp_path / "state.db") as store:
        statuses = [r["status"] for r in store.last_runs("run")]
    assert statuses == ["ok", "failed"]


def test_a_run_failing_before_propose_converges(world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path) -> None:
    _, gh = world
    from lfmwatch.adapters.github import GitHubSettings, connect

    gh.fail_next("GET", rf"/repos/{REPO}$", 500, times=20)  # GitHub down for sync and select
    adapters = Adapters(github=lambda: connect(GitHubSettings(api_url=gh.url, token=TOKEN, retries=0)))
    with Store(tmp_path / "state.db") as store:
        report = run_daily(store, load_config(), adapters=adapters)
        assert report.status == "failed" and report.failed_stage() == "select"
        assert report.stage("sync").status == "failed"  # recorded, not fatal on its own
        assert report.stage("classify").counts["classified"] == 10
    gh.faults.clear()
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 0, result.output
    assert "proposed 3 paper(s)" in result.output
    assert len(gh.pulls(REPO)) == 1


def test_dry_run_prints_the_change_and_touches_nothing(
    world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path
) -> None:
    _, gh = world
    result = CliRunner().invoke(cli, ["run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run: would propose 3 paper(s)" in result.output
    assert "+- [[arXiv](https://arxiv.org/abs/2611.00011)]" in result.output  # the diff
    assert "lfmwatch proposes" in result.output  # the PR body
    assert gh.pulls(REPO) == [] and "lfmwatch/papers" not in gh.branches(REPO)
    assert not (tmp_path / "state.db").exists()


def _run_with_llm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behaviour: str, *args: Any) -> tuple[Any, Any]:
    """`lfmwatch run` with summaries on, against an OpenAI fake answering `behaviour(*args)`: (result, fake)."""
    fake = pytest.importorskip("fakes.openai_fake")
    config = tmp_path / "lfmwatch.toml"
    config.write_text(config.read_text() + "[summaries]\nenabled = true\nmax_retries = 0\ntimeout_seconds = 2\n")
    with fake.OpenAIFake(getattr(fake, behaviour)(*args)) as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        return CliRunner().invoke(cli, ["run"]), llm


def test_summaries_reach_the_pr_body(
    world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, gh = world
    result, llm = _run_with_llm(tmp_path, monkeypatch, "answer",
                                "Merges fine-tuned models by averaging their weights without retraining.")
    assert result.exit_code == 0, result.output
    assert len(llm.requests) == 3  # only the selected papers, never the stream
    (pr,) = gh.pulls(REPO)
    assert "Merges fine-tuned models by averaging their weights" in pr["body"]


def test_an_unreachable_llm_costs_only_the_summaries(
    world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, gh = world
    result, _ = _run_with_llm(tmp_path, monkeypatch, "status", 500)
    assert result.exit_code == 0, result.output
    assert "proposed 3 paper(s)" in result.output
    (pr,) = gh.pulls(REPO)
    assert "summary:" not in pr["body"]
    with Store(tmp_path / "state.db") as store:
        counts = store.last_runs("run")[0]["counts"]
    assert counts["summarize"]["failed"] >= 1 and counts["summarize"]["errors"] >= 1


def test_daemon_runs_the_pipeline_on_a_near_immediate_trigger(
    world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path
) -> None:
    import threading

    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    from apscheduler.triggers.date import DateTrigger

    from lfmwatch.run.daemon import make_daemon

    _, gh = world
    daemon = make_daemon(load_config())
    daemon.jobs = {"run": daemon.jobs["run"]}
    daemon.triggers = {"run": DateTrigger(run_date=datetime.now(UTC) + timedelta(seconds=0.2))}

    def stop_after_run(event: Any) -> None:
        threading.Thread(target=daemon.stop).start()

    daemon.build().add_listener(stop_after_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    thread = threading.Thread(target=daemon.serve, kwargs={"install_signals": False})
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert daemon.executions == [("run", "ok")]
    assert len(gh.pulls(REPO)) == 1
    with Store(tmp_path / "state.db") as store:
        assert store.last_runs("run")[0]["status"] == "ok"


def _day_two_papers() -> list[dict[str, Any]]:
    yesterday = str(datetime.now(UTC).date() - timedelta(days=1))
    return [{"id": "2611.00021", "title": "Weight averaging for model merging at scale",
             "abstract": "Model soups interpolate weights; we merge fine-tuned models with task arithmetic.",
             "authors": ["C. Author"], "categories": ["cs.LG"], "published": yesterday}]


def test_a_closed_pr_is_learned_before_the_next_proposal(
    world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path
) -> None:
    emu, gh = world
    assert CliRunner().invoke(cli, ["run"]).exit_code == 0
    gh.close_pull(REPO, 1)  # the maintainers reject the whole batch
    emu.add_papers(_day_two_papers())
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 0, result.output
    assert "proposed 1 paper(s) in PR #2" in result.output
    open_prs = gh.pulls(REPO, state="open")
    assert [p["number"] for p in open_prs] == [2]
    readme = gh.file(REPO, "README.md", "lfmwatch/papers")
    assert "2611.00021" in readme and not any(pid in readme for pid in EXPECTED)  # rejected: never again
    with Store(tmp_path / "state.db") as store:
        rows = dict(store.db.execute("SELECT paper_id, status FROM proposals").fetchall())
    assert {rows[pid] for pid in EXPECTED} == {"rejected"} and rows["2611.00021"] == "proposed"


def test_a_reviewed_merge_shows_in_status(world: tuple[ArxivEmulator, GitHubFake]) -> None:
    _, gh = world
    assert CliRunner().invoke(cli, ["run"]).exit_code == 0
    gh.remove_line(REPO, "lfmwatch/papers", "2611.00012")  # rejected by removal
    gh.move_line(REPO, "lfmwatch/papers", "2611.00013", "Weight Interpolation")  # corrected section
    gh.merge_pull(REPO, 1)
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 0, result.output
    status = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)
    acc = status["acceptance"]
    assert (acc["accepted"], acc["moved"], acc["rejected"]) == (1, 1, 1)
    assert acc["rate"] == pytest.approx(2 / 3, abs=0.001)
    assert status["open_pr"] is None
    assert status["daily_runs"][0]["counts"]["sync"]["status"] == "ok"


def test_missing_token_stops_the_run_with_what_to_do(
    world: tuple[ArxivEmulator, GitHubFake], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 1
    assert "GITHUB_TOKEN is not set" in result.output and "export GITHUB_TOKEN" in result.output


def test_a_compacted_store_still_syncs_proposes_and_sends_the_digest(
    world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.smtp_server import SmtpFake
    from lfmwatch.model.io import load_model
    from lfmwatch.run.classify import classify_store
    from lfmwatch.store.ledger import blocked_ids
    from lfmwatch.store.papers import upsert_papers
    from lfmwatch.store.retention import RetentionPolicy, compact

    emu, gh = world
    assert CliRunner().invoke(cli, ["run"]).exit_code == 0  # PR #1 with the three EXPECTED papers
    assert CliRunner().invoke(cli, ["ignore", "2611.00105"]).exit_code == 0  # an off-topic paper, ignored
    old = datetime.now(UTC).date() - timedelta(days=20)
    with Store(tmp_path / "state.db") as store:  # three weeks of older stream, classified, mostly irrelevant
        upsert_papers(store, [{"id": f"2610.{i:05d}", "title": f"Deep learning for {OTHER[i % 8]} {i}",
                               "abstract": f"We address {OTHER[i % 8]} with networks.", "categories": ["cs.CV"],
                               "listed": str(old - timedelta(days=i % 7))} for i in range(300)], "arxiv")
        classify_store(store, load_model(tiny_model))
        blocked = blocked_ids(store)
        report = compact(store, RetentionPolicy(window_days=3, sample_size=5))
        assert report.papers_dropped >= 290
        kept = {r[0] for r in store.db.execute("SELECT id FROM papers")}
        assert EXPECTED | {"2611.00105"} <= kept and blocked_ids(store) == blocked

    # Sync: the reviewers drop one line and merge; propose: a new day's paper goes into a new PR.
    gh.remove_line(REPO, "lfmwatch/papers", "2611.00012")
    gh.merge_pull(REPO, 1)
    emu.add_papers(_day_two_papers())
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 0, result.output
    assert "proposed 1 paper(s) in PR #2" in result.output
    with Store(tmp_path / "state.db") as store:
        rows = dict(store.db.execute("SELECT paper_id, status FROM proposals").fetchall())
        assert store.db.execute("SELECT 1 FROM papers WHERE id = '2611.00021'").fetchone()
        assert store.last_runs("run")[0]["counts"]["compact"]["status"] == "ok"  # the run compacted at its end
    assert rows["2611.00012"] == "rejected" and rows["2611.00011"] == "accepted" and rows["2611.00021"] == "proposed"
    assert "2611.00105" not in (gh.file(REPO, "README.md", "lfmwatch/papers") or "")

    # The digest of the week still finds the week's relevant papers.
    week = "{}-W{:02d}".format(*(datetime.now(UTC).date() - timedelta(days=1)).isocalendar()[:2])
    with open(tmp_path / "lfmwatch.toml", "a", encoding="utf-8") as fh:
        fh.write('[digest]\nrecipients = ["reader@example.org"]\nsmtp_security = "none"\nmax_retries = 1\n')
    with SmtpFake() as smtp:
        monkeypatch.setenv("LFMWATCH_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("LFMWATCH_SMTP_PORT", str(smtp.port))
        sent = CliRunner().invoke(cli, ["digest", "--week", week])
        assert sent.exit_code == 0, sent.output
        assert len(smtp.messages) == 1
        import email
        import email.policy

        msg = email.message_from_bytes(smtp.messages[0].data, policy=email.policy.default)
        body = msg.get_body(("plain",)).get_content()
    # The new paper and the accepted one; the rejected one (2611.00012) is not shown.
    assert "Weight averaging for model merging at scale" in body and "Merging fine-tuned models by weight" in body
    assert "Task arithmetic for model merging" not in body
