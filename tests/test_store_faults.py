"""A state.db from a newer lfmwatch, edited by hand, on a full disk or with damaged pages: clean errors, up front."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from fakes.arxiv_emulator import ArxivEmulator
from lfmwatch.cli import cli
from lfmwatch.config import load_config
from lfmwatch.errors import StoreError
from lfmwatch.run.pipeline import run_daily
from lfmwatch.store.db import Store, migrations


def _no_traceback(result: object) -> str:
    out = str(getattr(result, "output", ""))
    assert "Traceback" not in out and "bug in lfmwatch" not in out
    return out


def test_a_newer_schema_is_refused_naming_the_versions(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with Store(db) as store:
        store.db["_sqlite_migrations"].insert({"migration_set": "lfmwatch", "name": "m999_from_the_future",
                                               "applied_at": "2030-01-01 00:00:00"})
        before = store.db.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0]
    with pytest.raises(StoreError, match="m999_from_the_future") as err:
        Store(db)
    known = [m.name for m in migrations._migrations]
    assert known[0] in str(err.value) and known[-1] in str(err.value) and "upgrade lfmwatch" in str(err.value)
    result = CliRunner().invoke(cli, ["status"], env={"LFMWATCH_DB": str(db)})
    assert result.exit_code == 1 and "newer lfmwatch" in _no_traceback(result)
    import sqlite3

    with sqlite3.connect(db) as conn:  # refused before anything was written
        assert conn.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0] == before


def test_a_renamed_column_is_a_clean_error(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with Store(db) as store:
        store.db.execute("ALTER TABLE proposals RENAME COLUMN status TO state")
    with pytest.raises(StoreError, match=r"proposals\.status"):
        Store(db)
    for args in (["status"], ["run"]):
        result = CliRunner().invoke(cli, args, env={"LFMWATCH_DB": str(db)})
        assert result.exit_code == 1 and "proposals.status" in _no_traceback(result)


def test_damaged_pages_are_an_environment_error(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with Store(db) as store:
        store.db["papers"].insert_all(({"id": f"2501.{i:05d}", "title": f"Paper {i}", "abstract": "x" * 400,
                                        "source": "test"} for i in range(300)), pk="id")
    data = bytearray(db.read_bytes())
    page = 4096
    for start in range(3 * page, len(data) - page, 5 * page):  # scribble over every fifth page after the third
        data[start:start + page] = b"\xa5" * page
    db.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["status"], env={"LFMWATCH_DB": str(db)})
    out = _no_traceback(result)
    assert result.exit_code == 1 and "damaged" in out and "restore state.db" in out, out


def test_a_full_disk_fails_the_run_with_a_hint_not_as_a_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    day = str(datetime.now(UTC).date() - timedelta(days=1))
    papers = [{"id": f"2611.{i:05d}", "title": f"Paper {i}", "abstract": "y" * 2000, "authors": ["A"],
               "categories": ["cs.LG"], "published": day} for i in range(60)]
    Path("lfmwatch.toml").write_text("[arxiv]\ndelay_seconds = 0\nbackoff_seconds = 0.01\nmax_retries = 0\n")
    with ArxivEmulator(papers) as emu, Store(tmp_path / "state.db") as store:
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", emu.url)
        (pages,) = store.db.execute("PRAGMA page_count").fetchone()
        store.db.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own 'database or disk is full'
        report = run_daily(store, load_config())
    assert report.status == "failed" and report.failed_stage() == "poll"
    assert "disk is full" in report.error and "free disk space" in report.hint and "bug" not in report.hint


def test_a_store_path_whose_directory_cannot_be_made_is_a_clean_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    db = blocker / "sub" / "state.db"  # its parent cannot be created: a file is in the way
    with pytest.raises(StoreError, match="cannot open the store: Not a directory"):
        Store(db)
    result = CliRunner().invoke(cli, ["status"], env={"LFMWATCH_DB": str(db)})
    assert result.exit_code == 1 and "LFMWATCH_DB" in _no_traceback(result)
