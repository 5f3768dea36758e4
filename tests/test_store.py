"""The store: migrations from blank and from every earlier schema, FTS across transform(), locks, state, runs."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlite_utils

from lfmwatch.errors import LockedError, StoreError
from lfmwatch.store.db import Store, migrations
from lfmwatch.store.papers import search_papers, upsert_papers

ALL = [m.name for m in migrations._migrations]


def _paper(pid: str, title: str = "Model merging of fine-tuned experts", **kw: object) -> dict:
    return {"id": pid, "title": title, "abstract": "We merge weights of models.", "categories": ["cs.LG"],
            "version": 1, **kw}


def test_blank_file_gets_every_migration_and_wal(tmp_path: Path) -> None:
    with Store(tmp_path / "blank.db") as store:
        applied = [m.name for m in migrations.applied(store.db)]
        assert applied == ALL
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        for table in ("papers", "papers_fts", "runs", "state", "locks", "predictions", "proposals",
                      "pull_requests", "feedback", "summaries", "digests", "digest_recipients"):
            assert store.db[table].exists(), table


@pytest.mark.parametrize("stop_before", ALL[1:])
def test_upgrade_from_every_earlier_schema_keeps_rows(tmp_path: Path, stop_before: str) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before=stop_before)
    db["papers"].insert({"id": "2401.00001", "title": "Old paper about adapters", "abstract": "LoRA adapters",
                         "authors": "[]", "categories": '["cs.CL"]', "first_seen": "2024-01-01T00:00:00+00:00"})
    db.close()
    with Store(path) as store:
        assert [m.name for m in migrations.applied(store.db)] == ALL
        assert store.db["papers"].get("2401.00001")["title"] == "Old paper about adapters"
        assert [p["id"] for p in search_papers(store, "adapters")] == ["2401.00001"]
        # the upgraded store is fully usable
        assert upsert_papers(store, [_paper("2401.00002")], "test") == (1, 0)


def test_reopening_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    with Store(path) as store:
        assert [m.name for m in migrations.applied(store.db)] == ALL


def test_fts_survives_transform(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        upsert_papers(store, [_paper("2501.00001"), _paper("2501.00002", title="Knowledge editing")], "t")
        # A later migration that reshapes papers drops the FTS triggers...
        store.db["papers"].transform(types={"version": int}, column_order=("id", "title"))
        assert not {"papers_ai", "papers_au"} <= {t.name for t in store.db.triggers}
        store.ensure_fts()
        upsert_papers(store, [_paper("2501.00003", title="Task arithmetic editing")], "t")
        assert {p["id"] for p in search_papers(store, "editing")} == {"2501.00002", "2501.00003"}
    # ... and opening the store repairs it too
    with Store(path) as store:
        store.db["papers"].transform(types={"version": int})
        store.close()
    with Store(path) as store:
        upsert_papers(store, [_paper("2501.00004", title="Editing again")], "t")
        assert {p["id"] for p in search_papers(store, "editing")} == {"2501.00002", "2501.00003", "2501.00004"}


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(bad)


def test_state_and_runs(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        assert store.get_state("k", 5) == 5
        store.set_state("k", {"a": 1})
        assert store.get_state("k") == {"a": 1}
        rid = store.start_run("poll", window_start="2025-06-01T00:00")
        store.finish_run(rid, "ok", fetched=3, counts={"requests": 2})
        (run,) = store.last_runs("poll")
        assert run["status"] == "ok" and run["counts"] == {"requests": 2} and run["fetched"] == 3


def test_lock_refuses_a_second_holder_and_releases(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as a, Store(path) as b:
        with a.lock("poll"):
            with pytest.raises(LockedError, match="another lfmwatch poll is running"):
                with b.lock("poll"):
                    pass
        with b.lock("poll"):  # released by the first holder
            pass
        assert a.db["locks"].count == 0


def test_lock_from_another_thread_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    held, release, errors = threading.Event(), threading.Event(), []

    def holder() -> None:
        with Store(path) as s, s.lock("poll"):
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(5)
        with Store(path) as s:
            try:
                with s.lock("poll"):
                    pass
            except LockedError as exc:
                errors.append(exc)
    finally:
        release.set()
        t.join()
    assert errors and "wait for it to finish" in str(errors[0])


def test_two_racing_acquirers_get_one_lock_and_one_clear_refusal(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # B tries to take the lock while A is between its check and its write: B must wait and then be refused
    # with LockedError (not a raw "database is locked" from a stale read snapshot, nor a second holder).
    path = tmp_path / "s.db"
    Store(path).close()
    a, outcome = Store(path), {}
    b_started, b_done = threading.Event(), threading.Event()
    real_upsert = sqlite_utils.db.Table.upsert

    def slow_upsert(self, *args, **kwargs):
        if self.name == "locks" and self.db is a.db and not b_started.is_set():
            b_started.set()
            b_done.wait(0.3)  # give B its chance to run inside A's check-then-write
        return real_upsert(self, *args, **kwargs)

    def contender() -> None:
        b_started.wait(5)
        with Store(path) as b:
            try:
                with b.lock("poll"):
                    outcome["b"] = "held"
            except LockedError:
                outcome["b"] = "refused"
            except sqlite3.Error as exc:
                outcome["b"] = f"sqlite error: {exc}"
        b_done.set()

    monkeypatch.setattr(sqlite_utils.db.Table, "upsert", slow_upsert)
    t = threading.Thread(target=contender)
    t.start()
    try:
        with a.lock("poll"):
            outcome["a"] = "held"
            t.join(10)
    except (LockedError, sqlite3.Error) as exc:
        outcome["a"] = f"{type(exc).__name__}: {exc}"
    finally:
        b_done.set()
        t.join(10)
        a.close()
    assert outcome == {"a": "held", "b": "refused"}


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    with Store(tmp_path / "s.db") as store:
        store.db["locks"].insert({"name": "poll", "pid": dead_pid, "host": socket.gethostname(),
                                  "acquired": "2026-01-01T00:00:00+00:00", "expires": "2999-01-01T00:00:00+00:00"})
        with store.lock("poll"):
            assert store.db["locks"].get("poll")["pid"] == os.getpid()


def test_expired_lock_of_another_host_is_taken_over(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.db["locks"].insert({"name": "poll", "pid": 1, "host": "elsewhere", "acquired": "2020-01-01T00:00:00+00:00",
                                  "expires": "2020-01-01T06:00:00+00:00"})
        with store.lock("poll"):
            pass
        store.db["locks"].insert({"name": "poll", "pid": 1, "host": "elsewhere", "acquired": "2020-01-01T00:00:00+00:00",
                                  "expires": "2999-01-01T00:00:00+00:00"})
        with pytest.raises(LockedError):
            with store.lock("poll"):
                pass


def test_integrity_after_many_writes(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        upsert_papers(store, (_paper(f"2501.{i:05d}") for i in range(1200)), "t")
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store.db.execute("INSERT INTO papers_fts(papers_fts) VALUES('integrity-check')")
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("select count(*) from papers").fetchone()[0] == 1200
    conn.close()
