"""The summaries table: one row per (paper, LLM model, prompt version), ok or failed with the reason."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lfmwatch.records import utcnow

if TYPE_CHECKING:
    from lfmwatch.store.db import Store

_BATCH = 500  # ids per IN (...) list


def cached(store: Store, ids: list[str], model: str, prompt_version: str) -> dict[str, dict[str, Any]]:
    """paper id -> {status, error} of the summaries already tried with this model and prompt version."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), _BATCH):
        batch = ids[i : i + _BATCH]
        marks = ", ".join("?" for _ in batch)
        cur = store.db.conn.execute(
            f"SELECT paper_id, status, error FROM summaries WHERE model = ? AND prompt_version = ? "
            f"AND paper_id IN ({marks})",
            [model, prompt_version, *batch],
        )
        for pid, status, error in cur.fetchall():
            out[pid] = {"status": status, "error": error or ""}
    return out


def record(store: Store, paper_id: str, model: str, prompt_version: str, status: str, summary: str | None,
           error: str | None, tokens: int) -> None:
    """Write the outcome of summarizing one paper."""
    store.db.table("summaries").upsert(
        {"paper_id": paper_id, "model": model, "prompt_version": prompt_version, "status": status,
         "summary": summary, "error": error, "tokens": tokens, "created": utcnow()},
        pk=("paper_id", "model", "prompt_version"),
    )


def usable_summaries(store: Store, ids: Iterable[str], prompt_version: str, model: str | None = None) -> dict[str, str]:
    """Usable summaries by paper id (this prompt version; any model when `model` is None, newest first)."""
    wanted = list(dict.fromkeys(str(i) for i in ids if i))
    out: dict[str, str] = {}
    for i in range(0, len(wanted), _BATCH):
        batch = wanted[i : i + _BATCH]
        marks = ", ".join("?" for _ in batch)
        sql = (f"SELECT paper_id, summary FROM summaries WHERE status = 'ok' AND prompt_version = ? "
               f"AND paper_id IN ({marks})")
        args: list[Any] = [prompt_version, *batch]
        if model is not None:
            sql += " AND model = ?"
            args.append(model)
        sql += " ORDER BY created ASC"  # later rows overwrite earlier ones: the newest wins
        for pid, summary in store.db.conn.execute(sql, args).fetchall():
            if summary:
                out[pid] = summary
    return out


#: A failed summary whose error starts with this was the endpoint's failure, not the paper's: the next run retries it.
RETRYABLE_PREFIX = "request: "


def pending_summary_ids(store: Store, model: str, prompt_version: str, limit: int | None = None) -> list[str]:
    """Papers waiting in proposals (selected/proposed) without a summary by `model` (failed requests retry)."""
    sql = (
        "SELECT p.paper_id FROM proposals p WHERE p.status IN ('selected', 'proposed') AND NOT EXISTS ("
        "SELECT 1 FROM summaries s WHERE s.paper_id = p.paper_id AND s.model = ? AND s.prompt_version = ? "
        "AND (s.status = 'ok' OR s.error NOT LIKE ?)) ORDER BY p.score DESC, p.paper_id"
    )
    args: list[Any] = [model, prompt_version, RETRYABLE_PREFIX + "%"]
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return [r[0] for r in store.db.conn.execute(sql, args).fetchall()]
