"""scripts/state_branch.sh against a real local git remote: state.db on its own branch as one parentless commit,
replaced on each push; a push over a branch that moved since the pull fails loudly and overwrites nothing."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "state_branch.sh"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def state(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def clone(remote: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(where)], check=True, capture_output=True)
    return where


def write_db(path: Path, value: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")
        conn.execute("INSERT INTO t VALUES (?)", [value])


def read_db(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT v FROM t ORDER BY rowid")]


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "bot.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "-b", "main", str(seed))
    (seed / "lfmwatch.toml").write_text("")
    git(seed, "add", ".")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    git(seed, "push", "-q", str(bare), "main")
    return bare


def test_pull_push_cycle_keeps_one_commit_without_history(remote: Path, tmp_path: Path) -> None:
    day1 = clone(remote, tmp_path / "day1")
    first = state(day1, "pull")
    assert first.returncode == 0 and "fresh state.db" in first.stdout
    write_db(day1 / "state.db", "day 1")
    pushed = state(day1, "push")
    assert pushed.returncode == 0, pushed.stderr
    day2 = clone(remote, tmp_path / "day2")
    assert state(day2, "pull").returncode == 0 and read_db(day2 / "state.db") == ["day 1"]
    assert state(day2, "push").stdout.strip() == "state.db unchanged: nothing to push"
    write_db(day2 / "state.db", "day 2")
    assert state(day2, "push").returncode == 0
    # The branch is one commit holding only state.db; main is untouched and the old state is not reachable.
    assert git(remote, "rev-list", "--count", "lfmwatch-state") == "1"
    assert git(remote, "ls-tree", "--name-only", "lfmwatch-state") == "state.db"
    assert git(remote, "rev-list", "--count", "main") == "1"
    day3 = clone(remote, tmp_path / "day3")
    assert state(day3, "pull").returncode == 0 and read_db(day3 / "state.db") == ["day 1", "day 2"]


def test_a_push_over_a_moved_branch_fails_loudly_and_overwrites_nothing(remote: Path, tmp_path: Path) -> None:
    a = clone(remote, tmp_path / "a")
    state(a, "pull")
    write_db(a / "state.db", "a")
    assert state(a, "push").returncode == 0
    mine, other = clone(remote, tmp_path / "mine"), clone(remote, tmp_path / "other")
    assert state(mine, "pull").returncode == 0 and state(other, "pull").returncode == 0
    write_db(other / "state.db", "out of band")
    assert state(other, "push").returncode == 0
    write_db(mine / "state.db", "mine")
    refused = state(mine, "push")
    assert refused.returncode == 1 and "NOT saved" in refused.stderr and "nothing was overwritten" in refused.stderr
    check = clone(remote, tmp_path / "check")
    state(check, "pull")
    assert read_db(check / "state.db") == ["a", "out of band"]


def test_first_push_migrates_a_committed_state_and_refuses_without_pull(remote: Path, tmp_path: Path) -> None:
    legacy = clone(remote, tmp_path / "legacy")
    write_db(legacy / "state.db", "from main")  # the state.db older workflows committed on main
    assert state(legacy, "push").returncode == 1  # no pull in this checkout: refuse
    pulled = state(legacy, "pull")
    assert "starting from the state.db in this checkout" in pulled.stdout
    assert state(legacy, "push").returncode == 0
    fresh = clone(remote, tmp_path / "fresh")
    assert state(fresh, "pull").returncode == 0 and read_db(fresh / "state.db") == ["from main"]


def test_an_unreadable_remote_is_an_error_not_an_empty_state(tmp_path: Path) -> None:
    work = tmp_path / "w"
    git(tmp_path, "init", "-q", str(work))
    git(work, "remote", "add", "origin", str(tmp_path / "missing.git"))
    res = state(work, "pull")
    assert res.returncode == 1 and "not starting from an empty state" in res.stderr
