"""The SQLite store (state.db): schema by append-only named migrations, locks, key/value state."""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import socket
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from lfmwatch.errors import LockedError, StoreError
from lfmwatch.records import utcnow

migrations = Migrations("lfmwatch")

FTS_COLUMNS = ["title", "abstract"]
FTS_TRIGGERS = ("papers_ai", "papers_ad", "papers_au")  # the names sqlite-utils gives them


# --- migrations: append only; never edit one that has shipped -------------------------------------


@migrations(name="m001_papers")
def _m001_papers(db: sqlite_utils.Database) -> None:
    db.table("papers").create(
        {
            "id": str,
            "version": int,
            "title": str,
            "abstract": str,
            "authors": str,  # JSON list
            "categories": str,  # JSON list, first = primary
            "primary_category": str,
            "comment": str,
            "journal_ref": str,
            "doi": str,
            "published": str,  # ISO date/time of v1
            "updated": str,  # ISO date/time of the latest version
            "listed": str,  # YYYY-MM-DD day it appeared in a listing (corpus) or was first seen
            "first_seen": str,
            "source": str,  # arxiv | import | train
        },
        pk="id",
        not_null={"title"},
    )
    db.table("papers").create_index(["published"])
    db.table("papers").create_index(["listed"])
    db.table("papers").enable_fts(FTS_COLUMNS, create_triggers=True, tokenize="porter")


@migrations(name="m002_runs_state_locks")
def _m002_runs_state_locks(db: sqlite_utils.Database) -> None:
    db.table("runs").create(
        {
            "id": int,
            "kind": str,  # poll | import | run | digest | backtest ...
            "started": str,
            "finished": str,
            "status": str,  # running | ok | failed | interrupted
            "window_start": str,
            "window_end": str,
            "fetched": int,
            "new": int,
            "updated": int,
            "counts": str,  # JSON object: counts per stage
            "reason": str,  # one-line reason when nothing happened
            "error": str,
        },
        pk="id",
    )
    db.table("runs").create_index(["kind", "started"])
    db.table("state").create({"key": str, "value": str, "updated": str}, pk="key")
    db.table("locks").create({"name": str, "pid": int, "host": str, "acquired": str, "expires": str}, pk="name")


@migrations(name="m003_predictions")
def _m003_predictions(db: sqlite_utils.Database) -> None:
    db.table("predictions").create(
        {
            "paper_id": str,
            "model_version": str,
            "relevant": int,
            "score": float,
            "section": str,
            "section_score": float,
            "sections": str,  # JSON [[path, p], ...]
            "why": str,  # JSON list of words
            "created": str,
        },
        pk=("paper_id", "model_version"),
    )
    db.table("predictions").create_index(["model_version", "relevant", "score"])


@migrations(name="m004_proposals_pulls_feedback")
def _m004_proposals_pulls_feedback(db: sqlite_utils.Database) -> None:
    db.table("proposals").create(
        {
            "paper_id": str,
            "section": str,
            "score": float,
            "why": str,  # JSON list
            "status": str,  # selected | proposed | accepted | moved | rejected | ignored
            "pr_number": int,
            "run_id": int,
            "selected_at": str,
            "proposed_at": str,
            "decided_at": str,
        },
        pk="paper_id",
    )
    db.table("proposals").create_index(["status"])
    db.table("pull_requests").create(
        {
            "number": int,
            "repo": str,
            "branch": str,
            "head_sha": str,
            "state": str,  # open | closed | merged
            "title": str,
            "url": str,
            "created": str,
            "updated": str,
            "closed_at": str,
            "synced_at": str,
        },
        pk="number",
    )
    db.table("feedback").create(
        {
            "id": int,
            "paper_id": str,
            "label": str,  # accepted | moved | rejected | ignored | unignored
            "section": str,  # section path where it ended up (accepted/moved)
            "proposed_section": str,
            "source": str,  # e.g. "pr#12", "comment#345", "cli"
            "created": str,
        },
        pk="id",
    )
    db.table("feedback").create_index(["paper_id"])
    db.table("feedback").create_index(["source", "paper_id"], unique=True)


@migrations(name="m005_summaries_digests")
def _m005_summaries_digests(db: sqlite_utils.Database) -> None:
    db.table("summaries").create(
        {
            "paper_id": str,
            "model": str,
            "prompt_version": str,
            "status": str,  # ok | failed
            "summary": str,
            "error": str,
            "tokens": int,
            "created": str,
        },
        pk=("paper_id", "model", "prompt_version"),
    )
    db.table("digests").create(
        {
            "week": str,  # YYYY-Www
            "status": str,  # building | partial | sent | empty
            "subject": str,
            "message_id": str,
            "papers": int,
            "created": str,
            "sent_at": str,
        },
        pk="week",
    )
    db.table("digest_recipients").create(
        {"week": str, "recipient": str, "status": str, "error": str, "sent_at": str},
        pk=("week", "recipient"),
    )


@migrations(name="m006_recipients_hashed")
def _m006_recipients_hashed(db: sqlite_utils.Database) -> None:
    # state.db is committed to the bot's (public) repository: subscribers' addresses written by older versions
    # become their keys (lfmwatch.store.mail.recipient_key), and addresses echoed in errors are scrubbed.
    from lfmwatch.store.mail import recipient_key, scrub_addresses

    rows = list(db.execute("SELECT week, recipient, status, error, sent_at FROM digest_recipients").fetchall())
    for week, recipient, status, error, sent_at in rows:
        if "@" not in (recipient or "") and "@" not in (error or ""):
            continue
        db.execute("DELETE FROM digest_recipients WHERE week = ? AND recipient = ?", [week, recipient])
        key = recipient_key(recipient) if "@" in (recipient or "") else recipient
        db.execute("INSERT OR REPLACE INTO digest_recipients (week, recipient, status, error, sent_at) "
                   "VALUES (?, ?, ?, ?, ?)", [week, key, status, scrub_addresses(error), sent_at])
    for run_id, error, reason in db.execute(
            "SELECT id, error, reason FROM runs WHERE error LIKE '%@%' OR reason LIKE '%@%'").fetchall():
        db.execute("UPDATE runs SET error = ?, reason = ? WHERE id = ?",
                   [scrub_addresses(error), scrub_addresses(reason), run_id])


@migrations(name="m007_proposal_authorship")
def _m007_proposal_authorship(db: sqlite_utils.Database) -> None:
    # Lines on the bot's branch that reviewers wrote themselves (status `reviewer`): their title as written in
    # the list (the paper may not be in `papers`) and who added them.
    db.table("proposals").add_column("title", str)
    db.table("proposals").add_column("added_by", str)


@migrations(name="m008_papers_fts_detail_column")
def _m008_papers_fts_detail_column(db: sqlite_utils.Database) -> None:
    # The full-text index without token positions (detail=column): 45% smaller (state.db is committed daily),
    # same bm25 ranking with the title weighted up; only phrase/NEAR queries, which search never makes, need positions.
    create_fts(db)


def create_fts(db: sqlite_utils.Database) -> None:
    """(Re)create the papers FTS5 index (porter, detail=column) with its sync triggers, filled from papers."""
    db.execute("DROP TABLE IF EXISTS papers_fts")
    for name in FTS_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS [{name}]")
    cols = ", ".join(f"[{c}]" for c in FTS_COLUMNS)
    new = ", ".join(f"new.[{c}]" for c in FTS_COLUMNS)
    old = ", ".join(f"old.[{c}]" for c in FTS_COLUMNS)
    db.execute(f"CREATE VIRTUAL TABLE [papers_fts] USING FTS5 ({cols}, tokenize='porter', content=[papers], "
               "detail=column)")
    db.execute(f"CREATE TRIGGER [papers_ai] AFTER INSERT ON [papers] BEGIN "
               f"INSERT INTO [papers_fts] (rowid, {cols}) VALUES (new.rowid, {new}); END")
    db.execute(f"CREATE TRIGGER [papers_ad] AFTER DELETE ON [papers] BEGIN "
               f"INSERT INTO [papers_fts] ([papers_fts], rowid, {cols}) VALUES ('delete', old.rowid, {old}); END")
    db.execute(f"CREATE TRIGGER [papers_au] AFTER UPDATE ON [papers] BEGIN "
               f"INSERT INTO [papers_fts] ([papers_fts], rowid, {cols}) VALUES ('delete', old.rowid, {old}); "
               f"INSERT INTO [papers_fts] (rowid, {cols}) VALUES (new.rowid, {new}); END")
    db.execute("INSERT INTO [papers_fts] ([papers_fts]) VALUES ('rebuild')")


# --- schema checks and environment errors ----------------------------------------------------------


def _refuse_newer_schema(db: sqlite_utils.Database, path: Path) -> None:
    """A state.db migrated by a newer lfmwatch is refused before anything touches it."""
    known = [m.name for m in migrations._migrations]
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        raise StoreError(
            f"{path} was written by a newer lfmwatch: it has migration(s) {', '.join(unknown)} that this version "
            f"does not know (it knows {known[0]} .. {known[-1]})",
            "upgrade lfmwatch (pip install -U lfmwatch), or point LFMWATCH_DB at another state.db",
        )


@functools.lru_cache(maxsize=1)
def _expected_columns() -> dict[str, frozenset[str]]:
    """Table -> columns of a blank store after every migration (what the code relies on)."""
    db = sqlite_utils.Database(memory=True)
    migrations.apply(db)
    return {t: frozenset(db.table(t).columns_dict) for t in db.table_names() if not t.startswith("_")}


def _check_columns(db: sqlite_utils.Database, path: Path) -> None:
    """Every table and column the migrations create is there (a hand-edited or foreign file is refused)."""
    have = set(db.table_names())
    missing = [f"{t}.{c}" for t, cols in _expected_columns().items() if t in have
               for c in sorted(cols - set(db.table(t).columns_dict))]
    missing += [t for t in _expected_columns() if t not in have]
    if missing:
        raise StoreError(f"{path}: the store lacks {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''} "
                         "(a renamed or dropped column or table: the file was edited outside lfmwatch)",
                         "restore state.db from its git history or a backup, or point LFMWATCH_DB at another path")


def environment_error(exc: BaseException, path: str | Path | None = None) -> StoreError:
    """A StoreError with a hint for SQLite/OS failures that come from the machine, not from lfmwatch."""
    where = f"{path}: " if path else ""
    text = str(exc)
    low = text.lower()
    if "full" in low or getattr(exc, "errno", None) == errno.ENOSPC:
        return StoreError(f"{where}the disk is full ({text})",
                          "free disk space (or point LFMWATCH_DB elsewhere) and rerun; nothing was lost")
    if any(w in low for w in ("malformed", "not a database", "disk i/o", "corrupt", "vtable constructor failed")):
        return StoreError(f"{where}the store file is damaged ({text})",
                          "restore state.db from the bot repo (git show origin/lfmwatch-state:state.db > state.db) or a backup, "
                          "or try `sqlite3 state.db .recover | sqlite3 fixed.db`")
    if "readonly" in low or "read-only" in low or "unable to open" in low:
        return StoreError(f"{where}the store cannot be written ({text})",
                          "check the file's permissions and that its directory exists and is writable")
    return StoreError(f"{where}SQLite error: {text}")


# --- the store -------------------------------------------------------------------------------------


class Store:
    """The bot's memory: a migrated sqlite-utils Database plus locks and key/value state."""

    def __init__(self, path: str | Path, *, migrate: bool = True) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            if str(self.path) != ":memory:":
                self.db.enable_wal()
            self.db.execute("PRAGMA busy_timeout = 30000")
            if migrate:
                _refuse_newer_schema(self.db, self.path)
                migrations.apply(self.db)
                _check_columns(self.db, self.path)
                # A migration that used transform() leaves papers without FTS triggers: repair on every open.
                self.ensure_fts()
        except sqlite3.DatabaseError as exc:
            if "not a database" not in str(exc):
                raise environment_error(exc, self.path) from exc
            raise StoreError(
                f"{self.path}: cannot open the store: {exc}",
                "check the file is an lfmwatch state.db (or point LFMWATCH_DB at another path)",
            ) from exc
        except OSError as exc:  # e.g. its directory cannot be created
            raise StoreError(f"{self.path}: cannot open the store: {exc.strerror or exc}",
                             "point LFMWATCH_DB at a path in a writable directory") from exc

    def atomic(self) -> AbstractContextManager[Any]:
        """One transaction (a savepoint inside another): every write in the block lands, or none."""
        return self.db.atomic()

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # key/value state ------------------------------------------------------------------------------
    def get_state(self, key: str, default: Any = None) -> Any:
        """Read a JSON value from the state table."""
        rows = list(self.db.table("state").rows_where("key = ?", [key]))
        return json.loads(rows[0]["value"]) if rows else default

    def set_state(self, key: str, value: Any) -> None:
        """Write a JSON value to the state table."""
        self.db.table("state").upsert({"key": key, "value": json.dumps(value), "updated": utcnow()}, pk="key")

    # runs -----------------------------------------------------------------------------------------
    def start_run(self, kind: str, **fields: Any) -> int:
        """Record the start of a run; returns its id."""
        row = {"kind": kind, "started": utcnow(), "status": "running", **fields}
        if isinstance(row.get("counts"), dict):
            row["counts"] = json.dumps(row["counts"])
        return int(self.db.table("runs").insert(row).last_pk or 0)

    def finish_run(self, run_id: int, status: str, **fields: Any) -> None:
        """Record the end of a run (status ok | failed | interrupted) with its counts."""
        row = {"finished": utcnow(), "status": status, **fields}
        if isinstance(row.get("counts"), dict):
            row["counts"] = json.dumps(row["counts"])
        self.db.table("runs").update(run_id, row)

    def abandon_runs(self, kind: str) -> int:
        """Mark `running` runs of `kind` as interrupted (call while holding that kind's lock: their process died)."""
        cur = self.db.execute(
            "UPDATE runs SET status = 'interrupted', finished = ?, "
            "error = coalesce(error, 'the process ended before the run finished') WHERE kind = ? AND status = 'running'",
            [utcnow(), kind],
        )
        return cur.rowcount

    def last_runs(self, kind: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        """Most recent runs first."""
        where, args = ("kind = ?", [kind]) if kind else (None, [])
        rows = list(self.db.table("runs").rows_where(where, args, order_by="id desc", limit=limit))
        for r in rows:
            r["counts"] = json.loads(r["counts"]) if r.get("counts") else {}
        return rows

    # locks ----------------------------------------------------------------------------------------
    @contextmanager
    def lock(self, name: str, ttl_seconds: float = 6 * 3600) -> Iterator[None]:
        """Hold a named lock; a lock whose holder died (same host, pid gone) or expired is taken over."""
        now = datetime.now(UTC)
        me = {"name": name, "pid": os.getpid(), "host": socket.gethostname()}
        with self._write_transaction():
            rows = list(self.db.table("locks").rows_where("name = ?", [name]))
            if rows and not _stale(rows[0], now):
                held = rows[0]
                raise LockedError(
                    f"another lfmwatch {name} is running (pid {held['pid']} on {held['host']} since {held['acquired']})",
                    "wait for it to finish; a crashed holder's lock expires at "
                    f"{held['expires']} or as soon as its process is gone",
                )
            self.db.table("locks").upsert(
                {**me, "acquired": now.replace(microsecond=0).isoformat(),
                 "expires": (now + timedelta(seconds=ttl_seconds)).replace(microsecond=0).isoformat()},
                pk="name",
            )
        try:
            yield
        finally:
            self.db.execute("DELETE FROM locks WHERE name = ? AND pid = ?", [name, os.getpid()])

    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        """A transaction that takes the write lock up front (BEGIN IMMEDIATE), so a check-then-write inside it
        cannot race another process: the other one waits for our commit and then sees our row."""
        conn = self.db.conn
        if conn.in_transaction:  # already inside a caller's transaction: a savepoint of it
            with self.db.atomic():
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # FTS ------------------------------------------------------------------------------------------
    def ensure_fts(self) -> None:
        """Re-create the papers FTS index and triggers (sqlite-utils transform() drops the triggers)."""
        papers = self.db.table("papers")
        if papers.detect_fts() is None:
            create_fts(self.db)
            return
        triggers = {t.name for t in self.db.triggers}
        if not set(FTS_TRIGGERS) <= triggers:
            # Drop and re-create the index with its triggers, repopulated from papers in one pass.
            create_fts(self.db)

    @contextmanager
    def defer_fts(self) -> Iterator[None]:
        """Bulk-load papers without per-row FTS triggers; the index is rebuilt in one pass at the end.

        Per-row FTS5 inserts cost about three times a rebuild, so a large import is faster this way. If the
        process dies inside, the next `Store()` open finds the triggers missing and rebuilds (ensure_fts).
        """
        for name in FTS_TRIGGERS:
            self.db.execute(f"DROP TRIGGER IF EXISTS [{name}]")
        try:
            yield
        finally:
            self.ensure_fts()


def _stale(row: dict[str, Any], now: datetime) -> bool:
    try:
        if datetime.fromisoformat(row["expires"]) < now:
            return True
    except (TypeError, ValueError):
        return True
    if row["host"] == socket.gethostname():
        try:
            os.kill(int(row["pid"]), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


def open_store(path: str | Path) -> Store:
    """Open (creating and migrating when needed) the store at `path`."""
    return Store(path)


@contextmanager
def dry_run_store(db_path: Path) -> Iterator[Store]:
    """A throw-away copy of the store (SQLite backup API, consistent even while another process writes)."""
    tmp = Path(tempfile.mkdtemp(prefix="lfmwatch-dry-"))
    copy = tmp / "state.db"
    try:
        if db_path.exists():
            # A read-write connection that only reads: a `mode=ro` one would leave -wal/-shm files behind.
            src = sqlite3.connect(str(db_path), timeout=30)
            src.execute("PRAGMA query_only = ON")
            dst = sqlite3.connect(str(copy))
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
        store = Store(copy)
        # A lock held by a real run in the original must not block (or be released by) the dry run.
        store.db.execute("DELETE FROM locks")
        try:
            yield store
        finally:
            store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
