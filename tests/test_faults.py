"""Fault injection: a full `lfmwatch run` SIGKILLed at every GitHub write, before and after the write is applied.

Each case runs the real CLI in a subprocess against the loopback arXiv emulator and the GitHub fake; the fake kills
the process at its N-th write request (kill_at_write). The same-day rerun must converge: one open PR holding every
picked paper exactly once, every paper `proposed` in that PR, no feedback label, and the daily cap not spent by the
killed run's picks. Merging the PR afterwards labels every paper accepted (nothing rejected by mistake).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fakes.arxiv_emulator import ArxivEmulator
from fakes.github_fake import GitHubFake
from lfmwatch.cli import cli
from lfmwatch.store.db import Store
from test_pipeline_e2e import EXPECTED, REPO, _day_two_papers, tiny_model, world  # noqa: F401  (fixtures)

BRANCH = "lfmwatch/papers"
# A first day's run writes: branch ref, README commit, pull request, two labels, the PR's labels.
FIRST_DAY_WRITES = 6


@pytest.fixture
def capped(capped_world: tuple[ArxivEmulator, GitHubFake]) -> GitHubFake:
    """The GitHub fake of `capped_world`."""
    return capped_world[1]


@pytest.fixture
def capped_world(world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path) -> tuple[ArxivEmulator, GitHubFake]:  # noqa: F811
    """The world of test_pipeline_e2e with a daily cap equal to the day's picks: a killed run must not spend it."""
    config = tmp_path / "lfmwatch.toml"
    config.write_text(config.read_text() + f"[select]\nmax_per_run = {len(EXPECTED)}\n")
    return world


def _killed_run(gh: GitHubFake, tmp_path: Path, n: int, when: str) -> subprocess.CompletedProcess[str]:
    """`lfmwatch run` in a subprocess that the fake SIGKILLs at its n-th write."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "lfmwatch", "run"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    gh.kill_at_write(gh.writes + n, when, kill=lambda: os.kill(proc.pid, signal.SIGKILL))
    out, _ = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def _branch_ids(gh: GitHubFake) -> list[str]:
    text = gh.file(REPO, "README.md", BRANCH) or ""
    return sorted(pid for pid in EXPECTED for _ in range(text.count(f"abs/{pid})")))


def _assert_converged(gh: GitHubFake, db: Path) -> None:
    pulls = gh.pulls(REPO)
    assert [(p["number"], p["state"]) for p in pulls] == [(1, "open")]
    assert _branch_ids(gh) == sorted(EXPECTED)  # every picked paper, once
    assert set(pulls[0]["labels"]) == {"lfmwatch", "new papers"}
    assert all(f"abs/{pid}" in pulls[0]["body"] for pid in EXPECTED)
    with Store(db) as store:
        rows = store.db.execute("SELECT paper_id, status, pr_number FROM proposals ORDER BY 1").fetchall()
        assert [tuple(r) for r in rows] == [(pid, "proposed", 1) for pid in sorted(EXPECTED)]
        assert store.db["feedback"].count == 0


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("n", range(1, FIRST_DAY_WRITES + 1))
def test_first_run_killed_at_every_write_converges(capped: GitHubFake, tmp_path: Path, n: int, when: str) -> None:
    gh = capped
    killed = _killed_run(gh, tmp_path, n, when)
    assert killed.returncode == -signal.SIGKILL, killed.stdout
    assert gh.killed is not None and gh.killed[:2] == (n, when)
    had_pr = bool(gh.pulls(REPO))
    rerun = CliRunner().invoke(cli, ["run"])
    assert rerun.exit_code == 0, rerun.output
    assert "daily cap" not in rerun.output
    if not had_pr:  # the rerun is the run that opened the PR: its one line says what it proposed
        assert f"proposed {len(EXPECTED)} paper(s) in PR #1" in rerun.output, rerun.output
    _assert_converged(gh, tmp_path / "state.db")
    again = CliRunner().invoke(cli, ["run"])  # and a third run changes nothing
    assert again.exit_code == 0 and "no paper proposed" in again.output
    _assert_converged(gh, tmp_path / "state.db")
    gh.merge_pull(REPO, 1)
    assert CliRunner().invoke(cli, ["sync"]).exit_code == 0
    with Store(tmp_path / "state.db") as store:
        labels = dict(store.db.execute("SELECT paper_id, label FROM feedback").fetchall())
    assert labels == dict.fromkeys(EXPECTED, "accepted")


def test_the_write_count_covers_a_whole_first_run(capped: GitHubFake) -> None:
    gh = capped
    assert CliRunner().invoke(cli, ["run"]).exit_code == 0
    assert gh.writes == FIRST_DAY_WRITES, gh.write_log


@pytest.mark.parametrize(("status", "times"), [(403, 1), (409, 10)])
def test_a_refused_readme_commit_does_not_spend_the_day(capped: GitHubFake, tmp_path: Path, status: int,
                                                        times: int) -> None:
    gh = capped
    gh.fail_next("PUT", r"/contents/README.md$", status, times=times)
    first = CliRunner().invoke(cli, ["run"])
    assert first.exit_code == 1 and "propose" in first.output, first.output
    assert gh.pulls(REPO) == []
    gh.faults.clear()
    rerun = CliRunner().invoke(cli, ["run"])
    assert rerun.exit_code == 0, rerun.output
    assert f"proposed {len(EXPECTED)} paper(s) in PR #1" in rerun.output
    _assert_converged(gh, tmp_path / "state.db")


DAY2 = {p["id"] for p in _day_two_papers()}


def _yesterday_run(servers: tuple[ArxivEmulator, GitHubFake], tmp_path: Path, close: bool) -> None:
    """Yesterday: a run proposed EXPECTED in PR #1 (then closed by the maintainers when `close`); today a new paper."""
    emu, gh = servers
    assert CliRunner().invoke(cli, ["run"]).exit_code == 0
    if close:
        gh.close_pull(REPO, 1)
    with Store(tmp_path / "state.db") as store:  # that run was yesterday: today's cap is untouched
        store.db.execute("UPDATE proposals SET proposed_at = '2020-01-01T06:00:00+00:00', "
                         "selected_at = '2020-01-01T06:00:00+00:00'")
    emu.add_papers(_day_two_papers())


# The writes of today's run: an update of the open PR (README commit, PR body), or after a closed PR a new one
# (branch reset, README commit, pull request, its labels; the labels are the same code as on day one).
SECOND_DAY = [("update", n, when) for n in (1, 2) for when in ("before", "after")]
SECOND_DAY += [("after-close", n, when) for n in (1, 2, 3) for when in ("before", "after")]  # 4: labels, as day one


@pytest.mark.parametrize(("case", "n", "when"), SECOND_DAY)
def test_next_day_killed_at_every_write_converges(capped_world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path,
                                                  case: str, n: int, when: str) -> None:
    _, gh = capped_world
    _yesterday_run(capped_world, tmp_path, close=case == "after-close")
    before = gh.writes
    killed = _killed_run(gh, tmp_path, n, when)
    assert killed.returncode == -signal.SIGKILL, killed.stdout
    assert gh.killed is not None and gh.killed[:2] == (before + n, when)
    rerun = CliRunner().invoke(cli, ["run"])
    assert rerun.exit_code == 0, rerun.output
    again = CliRunner().invoke(cli, ["run"])
    assert again.exit_code == 0 and "no paper proposed" in again.output, again.output
    number = 2 if case == "after-close" else 1
    open_prs = gh.pulls(REPO, state="open")
    assert [p["number"] for p in open_prs] == [number] and len(gh.pulls(REPO)) == number
    text = gh.file(REPO, "README.md", BRANCH) or ""
    in_pr = EXPECTED | DAY2 if case == "update" else DAY2
    assert sorted(pid for pid in EXPECTED | DAY2 for _ in range(text.count(f"abs/{pid})"))) == sorted(in_pr)
    assert set(open_prs[0]["labels"]) == {"lfmwatch", "new papers"}
    with Store(tmp_path / "state.db") as store:
        rows = {r[0]: (r[1], r[2]) for r in store.db.execute("SELECT paper_id, status, pr_number FROM proposals")}
        labels = dict(store.db.execute("SELECT paper_id, label FROM feedback").fetchall())
    assert {pid: rows[pid] for pid in in_pr} == dict.fromkeys(in_pr, ("proposed", number))
    if case == "update":
        assert labels == {}
    else:  # the closed PR's papers only, as that closure labels them (never today's paper, never accepted)
        assert set(labels) == EXPECTED and len(set(labels.values())) == 1
        assert set(labels.values()) <= {"rejected", "closed"}


@pytest.mark.parametrize(("case", "writes"), [("update", 2), ("after-close", 4)])
def test_the_write_count_covers_a_whole_second_day(capped_world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path,
                                                   case: str, writes: int) -> None:
    _, gh = capped_world
    _yesterday_run(capped_world, tmp_path, close=case == "after-close")
    before = gh.writes
    assert CliRunner().invoke(cli, ["run"]).exit_code == 0
    assert gh.writes - before == writes, gh.write_log[before:]
