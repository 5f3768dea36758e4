"""The daily run's machinery: failure policy, run records, lock, interruption, dry run, step summary, reasons."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fakes.arxiv_emulator import ArxivEmulator
from lfmwatch.cli import cli
from lfmwatch.config import Config, load_config
from lfmwatch.errors import LockedError
from lfmwatch.run.pipeline import (
    Adapters,
    _Context,
    explain_nothing_proposed,
    run_daily,
)
from lfmwatch.run.report import RunReport, StageResult
from lfmwatch.run.runlog import markdown_summary, write_step_summary
from lfmwatch.run.weekly import run_digest
from lfmwatch.store.db import Store, dry_run_store


def recent_papers(n: int = 6) -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    return [{"id": f"2611.{i:05d}", "title": f"Paper {i} on model merging", "abstract": f"Abstract {i}.",
             "authors": ["A. Author"], "categories": ["cs.LG"], "published": str(today - timedelta(days=1 + i % 2))}
            for i in range(n)]


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArxivEmulator]:
    with ArxivEmulator(recent_papers()) as e:
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", e.url)
        Path("lfmwatch.toml").write_text(
            "[arxiv]\ndelay_seconds = 0\nbackoff_seconds = 0.01\ntimeout_seconds = 2\nmax_retries = 1\n"
            '[model]\npath = "models/none.npz"\n'
        )
        yield e


def test_stage_that_cannot_run_stops_the_run_with_a_hint(emu: ArxivEmulator, tmp_path: Path) -> None:
    config = load_config()
    with Store(tmp_path / "state.db") as store:
        report = run_daily(store, config)
        assert report.status == "failed"
        assert report.failed_stage() == "classify"
        assert "lfmwatch train" in report.hint
        assert report.stage("poll").counts["new"] == 6  # what ran before the failure is kept
        (row,) = store.last_runs("run")
        assert row["status"] == "failed" and row["finished"]
        assert row["counts"]["poll"]["new"] == 6 and row["counts"]["classify"]["status"] == "failed"
        assert "no model file" in row["error"] and "hint:" in row["error"]


def test_cli_run_exits_1_with_message_and_writes_step_summary(
    emu: ArxivEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 1
    assert "the run stopped in classify" in result.output and "hint:" in result.output
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## lfmwatch run: failed" in text and "| poll | ok |" in text


def test_cli_run_prints_paper_text_without_terminal_controls(monkeypatch: pytest.MonkeyPatch) -> None:
    # Titles come from arXiv or an imported corpus: an escape sequence or a newline must not reach the terminal.
    report = RunReport(status="ok", proposed=[{"id": "2611.00001", "section": "A > B\x1b[2J",
                                               "title": "Evil\x1b]8;;https://x.example\x07 title\nFAKE: line"}])
    monkeypatch.setattr("lfmwatch.run.pipeline.run_daily", lambda *a, **k: report)
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\nFAKE" not in result.output and "2611.00001\tA > B[2J\tEvil" in result.output


def test_status_json_reports_the_runs(emu: ArxivEmulator) -> None:
    CliRunner().invoke(cli, ["run"])
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    (run,) = info["daily_runs"]
    assert run["status"] == "failed" and run["counts"]["poll"]["new"] == 6
    assert info["papers"] == 6
    assert set(info["schedule"]["next"]) == {"run", "digest", "retrain"}
    assert info["model"]["error"].startswith("no model card")


def test_runs_never_overlap(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store, store.lock("run"):
        with pytest.raises(LockedError, match="another lfmwatch run is running"):
            run_daily(store, Config())


def test_a_killed_run_is_marked_interrupted_by_the_next(emu: ArxivEmulator, tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        dead = store.start_run("run")  # a process that died mid-run leaves this row "running"
        run_daily(store, load_config())
        rows = {r["id"]: r for r in store.last_runs("run")}
        assert rows[dead]["status"] == "interrupted" and "process ended" in rows[dead]["error"]


def test_a_killed_digest_run_is_marked_interrupted_by_the_next(tmp_path: Path) -> None:
    config = Config()
    config.digest.send_empty = False
    with Store(tmp_path / "state.db") as store:
        dead = store.start_run("digest")  # the daemon was killed while sending: the row stays "running"
        result = run_digest(store, config, week="2025-W30")
        assert result.status == "empty"
        rows = {r["id"]: r for r in store.last_runs("digest")}
        assert rows[dead]["status"] == "interrupted" and rows[dead]["finished"]
        assert [r["status"] for r in rows.values() if r["id"] != dead] == ["ok"]


def test_stop_request_ends_the_run_interrupted(emu: ArxivEmulator, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with Store(tmp_path / "state.db") as store:
        report = run_daily(store, load_config(), stop=stop)
        assert report.status == "interrupted" and report.reason == "stopped before poll"
        assert store.last_runs("run")[0]["status"] == "interrupted"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dry_run_touches_only_a_temporary_copy(emu: ArxivEmulator, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with Store(db) as store:
        store.set_state("marker", 1)
    before = _digest(db)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(cli, ["run", "--dry-run"])
    assert result.exit_code == 1  # no model: the dry run says so too
    assert _digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before
    with Store(db) as store:
        assert store.last_runs("run") == [] and store.get_state("marker") == 1


def test_dry_run_store_copies_data_and_drops_locks(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with Store(db) as store:
        store.set_state("k", "v")
        with store.lock("run"), dry_run_store(db) as copy:
            assert copy.get_state("k") == "v"
            copy.set_state("k", "changed")
            with copy.lock("run"):  # the original's lock did not come along
                pass
        assert store.get_state("k") == "v"


def _ctx(stages: dict[str, dict[str, Any]], config: Config | None = None) -> _Context:
    report = RunReport(stages=[StageResult(name, counts=c) for name, c in stages.items()])
    return _Context(None, config or Config(), Adapters(), report, False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        ({"poll": {"fetched": 0, "new": 0, "window": "2026-11-21..2026-11-22"}},
         "no new papers in the window 2026-11-21..2026-11-22 (a weekend: arXiv announces nothing new)"),
        ({"poll": {"fetched": 0, "new": 0, "window": "2026-11-24..2026-11-24"}},
         "no new papers in the window 2026-11-24..2026-11-24 (nothing submitted yet today)"),
        ({"poll": {"fetched": 0, "new": 0, "window": "2026-11-23..2026-11-25"}},
         "arXiv returned no papers for Mon 2026-11-23, Tue 2026-11-24"),
        ({"poll": {"fetched": 5, "new": 0, "window": "2026-11-23..2026-11-25"}, "classify": {"classified": 0},
          "select": {"candidates": 4, "blocked": 4}},
         "no new papers in the window 2026-11-23..2026-11-25"),
        ({"poll": {"fetched": 9, "new": 9, "window": "a..b"}, "classify": {"classified": 9, "relevant": 0},
          "select": {"candidates": 0}}, "all 9 newly classified papers are below the relevance threshold"),
        ({"poll": {"fetched": 9, "new": 9, "window": "a..b"}, "classify": {"classified": 9, "relevant": 2},
          "select": {"candidates": 2, "in_list": 1, "blocked": 1}},
         "all relevant papers are already in the list (1) or were proposed or rejected before (1)"),
        ({"poll": {"fetched": 9, "new": 0, "window": "a..b"}, "classify": {"classified": 0},
          "select": {"selected": 0, "over_daily_cap": 7, "proposed_today": 10}},
         "daily cap reached: 10 papers were already proposed today (select.max_per_run = 10); 7 wait for tomorrow"),
        ({"poll": {"fetched": 9, "new": 9, "window": "a..b"}, "select": {"in_pr": 40, "pr_full": 1}},
         "PR cap reached: the open pull request already holds 40 papers (select.max_per_pr = 40)"),
    ],
)
def test_one_line_reason_when_nothing_is_proposed(stages: dict[str, dict[str, Any]], expected: str) -> None:
    assert explain_nothing_proposed(_ctx(stages)).startswith(expected)


def test_markdown_summary_escapes_paper_text() -> None:
    report = RunReport(status="ok", stages=[StageResult("poll", counts={"new": 1})],
                       proposed=[{"id": "2611.00001", "title": "<img src=x> @here | pipe", "section": "A > B"}])
    md = markdown_summary(report)
    assert "\\<img" in md and "<img" not in md.replace("\\<img", "")  # escaped: shown, never rendered
    assert "@here" not in md and "\\|" in md
    assert "proposed 1 paper(s)" in md


def test_markdown_summary_escapes_the_error_in_the_headline() -> None:
    # A failure's message can carry untrusted text (a server's answer, a paper title) and a traceback.
    report = RunReport(status="failed", stages=[StageResult("poll", status="failed")],
                       error="ValueError: <img src=x onerror=alert(1)> @here\n  File \"x.py\", line 1\n# heading")
    md = markdown_summary(report)
    assert "<img" not in md.replace("\\<img", "") and "@here" not in md
    assert "\n# heading" not in md and "\n  File" not in md
    assert "## lfmwatch run: failed" in md and "run failed in poll" in md


def test_terminal_progress_prints_stage_text_verbatim_not_as_rich_markup() -> None:
    import io

    from lfmwatch.run.runlog import RunLog

    # Error text comes from servers and papers: "[/x]" must not crash the run, "[link=...]" must not become a link.
    out = io.StringIO()
    with RunLog(["poll"], stream=out, interactive=True) as runlog:
        runlog.start("poll")
        runlog.done(StageResult("poll", counts={"new": 1}, errors=["[/x] [link=https://e.example]h[/link]"]))
        runlog.note("note [/y] [bold]z")
    text = out.getvalue()
    assert "[/x] [link=https://e.example]h[/link]" in text and "note [/y] [bold]z" in text
    assert "\x1b]8;" not in text


def test_step_summary_only_when_actions_set_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert write_step_summary(RunReport(status="ok")) is None
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "s.md"))
    assert write_step_summary(RunReport(status="ok")) == tmp_path / "s.md"


def test_progress_on_a_terminal_and_log_lines_elsewhere(caplog: pytest.LogCaptureFixture) -> None:
    import io
    import logging

    from lfmwatch.run.runlog import RunLog

    stream = io.StringIO()
    with RunLog(["poll", "classify"], stream=stream, interactive=True) as runlog:
        runlog.start("poll")
        runlog.done(StageResult("poll", counts={"fetched": 3, "new": 2}))
    assert "poll: fetched 3, new 2" in stream.getvalue()

    with caplog.at_level(logging.INFO, logger="lfmwatch.run"):
        with RunLog(["poll"], stream=io.StringIO()) as runlog:  # not a terminal
            assert not runlog.interactive
            runlog.start("poll")
            runlog.done(StageResult("poll", status="failed", errors=["arXiv unreachable"]))
    assert "poll: starting" in caplog.text and "failed: 1 error(s): arXiv unreachable" in caplog.text


def test_status_text_rows_for_people(emu: ArxivEmulator) -> None:
    from lfmwatch.run.status import collect_status, describe_pipeline_status

    CliRunner().invoke(cli, ["run"])
    with Store(load_config().db_path) as store:
        rows = dict(describe_pipeline_status(collect_status(store, load_config())))
    assert rows["daily run"].startswith("#") and "failed" in rows["daily run"]
    assert rows["open PR"] == "none" and rows["acceptance"] == "no reviewed papers yet"
    assert rows["next run"].endswith("(17 6 * * * UTC)")


def test_run_json_report(emu: ArxivEmulator) -> None:
    result = CliRunner().invoke(cli, ["run", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "failed" and report["line"].startswith("run failed in classify")
    assert [s["name"] for s in report["stages"]] == ["poll", "classify"]


def test_poll_progress_counts_papers_on_a_terminal(emu: ArxivEmulator, tmp_path: Path) -> None:
    import io

    from lfmwatch.run.runlog import RunLog

    ticks: list[int] = []

    class Recording(RunLog):
        def items(self, stage: str, unit: str) -> Any:
            bar = super().items(stage, unit)

            def tick(done: int, total: int | None) -> None:
                ticks.append(done)
                bar(done, total)

            return tick

    stream = io.StringIO()
    with Store(tmp_path / "state.db") as store, Recording(["poll", "classify"], stream=stream, interactive=True) as rl:
        report = run_daily(store, load_config(), runlog=rl)
    assert report.stage("poll").counts["new"] == 6 and ticks == [1, 2, 3, 4, 5, 6]
    assert "poll: fetched 6, new 6" in stream.getvalue()
    assert "classify: failed: 1 error(s): models/none.npz: no model file" in stream.getvalue()


def test_a_run_killed_holding_the_lock_does_not_block_the_next(emu: ArxivEmulator, tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "state.db"
    # A process that dies (no cleanup at all) in the middle of a run, holding the run lock.
    code = (
        "import os, sys\n"
        "from lfmwatch.store.db import Store\n"
        f"s = Store({str(db)!r})\n"
        "cm = s.lock('run'); cm.__enter__(); s.start_run('run'); os._exit(9)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    with Store(db) as store:
        assert store.db.execute("SELECT COUNT(*) FROM locks WHERE name = 'run'").fetchone()[0] == 1
        report = run_daily(store, load_config())
        assert report.failed_stage() == "classify"  # it ran (this store has no model), the stale lock was taken
        statuses = [r["status"] for r in store.last_runs("run")]
    assert statuses == ["failed", "interrupted"]
