"""Paper records: pure normalisation of input records, and the papers table (upsert, get, search, iterate).

A *paper dict* has the papers-table columns with `authors`/`categories` as Python lists, dates as ISO strings and
`listed` as YYYY-MM-DD. The first half of this module is pure (no IO); the second half talks to a `Store`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from lfmwatch.ids import parse_arxiv_id

if TYPE_CHECKING:
    from lfmwatch.store.db import Store

COLUMNS = (
    "id", "version", "title", "abstract", "authors", "categories", "primary_category", "comment",
    "journal_ref", "doi", "published", "updated", "listed", "first_seen", "source",
)
_JSON_COLUMNS = ("authors", "categories")
# Columns a later record may overwrite; `first_seen` and `listed` describe this store's history and are kept.
_MERGE_COLUMNS = tuple(c for c in COLUMNS if c not in ("id", "first_seen", "listed"))

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")
BATCH = 500  # rows per SQL statement batch: well under SQLite's variable limit, big enough to amortise


class RecordError(ValueError):
    """A record cannot become a paper (the message says which field and why)."""


# --- pure: normalisation -------------------------------------------------------------------------------


def split_id(raw: str) -> tuple[str, int | None]:
    """Split 'http://arxiv.org/abs/2501.01234v2' or '2501.01234v2' into ('2501.01234', 2) (see lfmwatch.ids)."""
    parsed = parse_arxiv_id(raw)
    if parsed is None:
        raise RecordError(f"not an arXiv id: {raw!r}")
    return parsed


def clean_text(value: Any) -> str:
    """Collapse whitespace (arXiv wraps titles and abstracts; the corpus does not)."""
    return " ".join(str(value).split()) if value is not None else ""


def _optional_text(value: Any) -> str | None:
    text = clean_text(value)
    return text or None


def _date_part(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not _DATE_RE.match(text):
        raise RecordError(f"{field} must be a YYYY-MM-DD date, got {value!r}")
    try:
        date.fromisoformat(text[:10])  # strict YYYY-MM-DD; much faster than strptime
    except ValueError as exc:
        raise RecordError(f"{field} is not a valid date: {value!r}") from exc
    return text


def _str_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{field} must be a list of strings")
    return [v.strip() for v in value if v.strip()]


def paper_from_record(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one JSONL record (DESIGN.md paper format) and return a paper dict (without first_seen/source)."""
    if not isinstance(obj, Mapping):
        raise RecordError("a line must be a JSON object")
    for key in ("id", "title", "abstract"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise RecordError(f"missing or empty required field {key!r}")
    pid, version = split_id(obj["id"])
    if isinstance(obj.get("version"), int) and not isinstance(obj.get("version"), bool):
        version = obj["version"]
    categories = _str_list(obj.get("categories"), "categories")
    published = _date_part(obj.get("published"), "published")
    listed = _date_part(obj.get("listed"), "listed")
    return {
        "id": pid,
        "version": version,
        "title": clean_text(obj["title"]),
        "abstract": clean_text(obj["abstract"]),
        "authors": _str_list(obj.get("authors"), "authors"),
        "categories": categories,
        "primary_category": _optional_text(obj.get("primary_category")) or (categories[0] if categories else None),
        "comment": _optional_text(obj.get("comment")),
        "journal_ref": _optional_text(obj.get("journal_ref")),
        "doi": _optional_text(obj.get("doi")),
        "published": published,
        "updated": _date_part(obj.get("updated"), "updated"),
        "listed": (listed or published or "")[:10] or None,
    }


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(microsecond=0).isoformat()
    return str(value)


def paper_from_result(result: Any) -> dict[str, Any]:
    """Turn an `arxiv.Result` (duck-typed: no arxiv import here) into a paper dict."""
    pid, version = split_id(result.entry_id)
    categories = [c for c in (result.categories or []) if c]
    primary = result.primary_category or (categories[0] if categories else None)
    # Primary first, as in the corpus format ("first = primary").
    if primary and primary in categories:
        categories = [primary] + [c for c in categories if c != primary]
    elif primary:
        categories = [primary, *categories]
    published = _iso(result.published)
    return {
        "id": pid,
        "version": version,
        "title": clean_text(result.title),
        "abstract": clean_text(result.summary),
        "authors": [clean_text(a.name) for a in result.authors if clean_text(a.name)],
        "categories": categories,
        "primary_category": primary,
        "comment": _optional_text(result.comment),
        "journal_ref": _optional_text(result.journal_ref),
        "doi": _optional_text(result.doi),
        "published": published,
        "updated": _iso(result.updated),
        "listed": published[:10] if published else None,
    }


def _to_row(paper: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {c: paper.get(c) for c in COLUMNS}
    for c in _JSON_COLUMNS:
        if isinstance(row[c], list | tuple):
            row[c] = json.dumps(list(row[c]), ensure_ascii=False)
    return row


def _from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    paper = dict(row)
    for c in _JSON_COLUMNS:
        paper[c] = json.loads(paper[c]) if paper.get(c) else []
    return paper


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == "[]"


def merge_rows(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The row to store when `new` (a row) arrives for a paper stored as `old`; equal to `old` when nothing changes.

    A record at least as new as the stored one (same or higher version, or no versions known) overwrites the
    fields it carries; an older record (or one without a version over a versioned row) only fills empty fields.
    `first_seen` and `listed` never change.
    """
    ov, nv = old.get("version"), new.get("version")
    authoritative = ov is None or (nv is not None and nv >= ov)
    merged = dict(old)
    for c in _MERGE_COLUMNS:
        value = new.get(c)
        if _empty(value):
            continue
        if authoritative or _empty(old.get(c)):
            merged[c] = value
    if merged.get("source") != old.get("source") and all(merged.get(c) == old.get(c) for c in COLUMNS if c != "source"):
        merged["source"] = old.get("source")  # a source change alone is not an update
    if _empty(old.get("listed")) and not _empty(new.get("listed")):
        merged["listed"] = new["listed"]
    return merged


# --- store access --------------------------------------------------------------------------------------


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def upsert_papers(store: Store, papers: Iterable[Mapping[str, Any]], source: str) -> tuple[int, int]:
    """Insert new papers and update changed ones; returns (new, updated). Identical re-inserts count as neither."""
    conn = store.db.conn
    from lfmwatch.records import utcnow

    now = utcnow()
    placeholders = ", ".join("?" for _ in COLUMNS)
    insert_sql = f"INSERT INTO papers ({', '.join(COLUMNS)}) VALUES ({placeholders})"
    update_cols = [c for c in COLUMNS if c not in ("id", "first_seen")]
    update_sql = f"UPDATE papers SET {', '.join(f'{c} = ?' for c in update_cols)} WHERE id = ?"
    new_count = updated_count = 0
    for batch in _batches(papers, BATCH):
        incoming: dict[str, dict[str, Any]] = {}
        for paper in batch:
            row = _to_row(paper)
            row["source"] = row.get("source") or source
            row["first_seen"] = None
            if row["id"] in incoming:  # duplicates inside one batch: merge them first
                row = merge_rows(incoming[row["id"]], row)
            incoming[row["id"]] = row
        ids = list(incoming)
        with store.db.atomic():
            cur = conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM papers WHERE id IN ({', '.join('?' for _ in ids)})", ids
            )
            existing = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in cur.fetchall()}
            inserts, updates = [], []
            for pid, row in incoming.items():
                old = existing.get(pid)
                if old is None:
                    row["first_seen"] = now
                    if _empty(row.get("listed")):
                        row["listed"] = now[:10]
                    inserts.append([row[c] for c in COLUMNS])
                    continue
                merged = merge_rows(old, row)
                if merged != old:
                    updates.append([merged[c] for c in update_cols] + [pid])
            if inserts:
                conn.executemany(insert_sql, inserts)
            if updates:
                conn.executemany(update_sql, updates)
        new_count += len(inserts)
        updated_count += len(updates)
    return new_count, updated_count


def get_papers(store: Store, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Papers by id (versionless); unknown ids are absent from the result."""
    out: dict[str, dict[str, Any]] = {}
    for batch in _batches(dict.fromkeys(ids), BATCH):
        cur = store.db.conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM papers WHERE id IN ({', '.join('?' for _ in batch)})", batch
        )
        for r in cur.fetchall():
            out[r[0]] = _from_row(dict(zip(COLUMNS, r, strict=True)))
    return out


def iter_papers(store: Store, where: str | None = None, args: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
    """All papers (optionally filtered by an SQL `where` with `args`), in id order, streamed."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM papers"
    if where:
        sql += f" WHERE {where}"
    sql += " ORDER BY id"
    for r in store.db.conn.execute(sql, list(args)):
        yield _from_row(dict(zip(COLUMNS, r, strict=True)))


def fts_query(query: str) -> str:
    """Turn free user text into a safe FTS5 query: every word quoted, all words required.

    Words are the tokenizer's tokens (letters and digits; `_` separates, as in FTS5's unicode61), so each quoted
    word is one token: the index keeps no positions (detail=column), which rules out multi-token phrases."""
    words = re.findall(r"[^\W_]+", query, flags=re.UNICODE)
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def search_papers(store: Store, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """Full-text search over title and abstract, best match first (bm25, title weighted up)."""
    match = fts_query(query)
    if not match:
        return []
    cols = ", ".join(f"papers.{c}" for c in COLUMNS)
    # Title hits count more than abstract hits: a paper named after the query is the best answer.
    sql = (
        f"SELECT {cols}, bm25(papers_fts, 5.0, 1.0) AS rank FROM papers_fts "
        "JOIN papers ON papers.rowid = papers_fts.rowid "
        "WHERE papers_fts MATCH ? ORDER BY rank LIMIT ?"
    )
    import sqlite3

    try:
        rows = store.db.conn.execute(sql, [match, int(limit)]).fetchall()
    except sqlite3.OperationalError as exc:
        if "phrase" not in str(exc):
            raise
        # A few scripts' letters are separators to the tokenizer: search for the plain ASCII words instead.
        match = fts_query(re.sub(r"[^A-Za-z0-9]+", " ", query))
        rows = store.db.conn.execute(sql, [match, int(limit)]).fetchall() if match else []
    return [_from_row(dict(zip(COLUMNS, r[: len(COLUMNS)], strict=True))) for r in rows]


def count_papers(store: Store) -> int:
    """Number of papers stored."""
    return int(store.db.conn.execute("SELECT count(*) FROM papers").fetchone()[0])
