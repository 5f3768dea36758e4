"""The digest's rows: what a week showed (papers, merges) and what was sent to whom (digests, digest_recipients)."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from lfmwatch.records import utcnow
from lfmwatch.store.predictions import newest_model_version

if TYPE_CHECKING:
    from lfmwatch.store.db import Store

_DAY = "COALESCE(NULLIF(p.listed, ''), substr(p.published, 1, 10))"


def _dicts(cur: Any) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def relevant_rows(store: Store, first: str, last: str) -> list[dict[str, Any]]:
    """Papers listed in [first, last] the latest model found relevant, or that were selected/proposed/accepted."""
    sql = f"""
        SELECT p.id, p.title, p.authors, {_DAY} AS day,
               COALESCE(pro.score, pr.score) AS score, COALESCE(NULLIF(pro.section, ''), pr.section) AS section
        FROM papers p
        LEFT JOIN predictions pr ON pr.paper_id = p.id AND pr.model_version = ?
        LEFT JOIN proposals pro ON pro.paper_id = p.id
        WHERE {_DAY} BETWEEN ? AND ?
          AND (pr.relevant = 1 OR pro.status IN ('selected', 'proposed', 'accepted', 'moved'))
          AND COALESCE(pro.status, '') NOT IN ('rejected', 'ignored')
    """
    return _dicts(store.db.conn.execute(sql, [newest_model_version(store), first, last]))


def merged_between(store: Store, first: str, last: str) -> list[dict[str, Any]]:
    """What merges put in the list between two days (ISO, inclusive), with titles, oldest first.

    Only outcomes read from a merged README count (feedback source `pr#N`: accepted, moved, or a reviewer's own
    line `added`), in the section where the merged README has them: a command on an open PR, an ignore or a
    removal never reads as merged. `title` falls back to the list's own title for reviewers' lines.
    """
    return _dicts(store.db.conn.execute(
        "SELECT f.paper_id, f.label, f.section, f.created, COALESCE(p.title, pro.title) AS title FROM feedback f "
        "LEFT JOIN papers p ON p.id = f.paper_id LEFT JOIN proposals pro ON pro.paper_id = f.paper_id "
        "WHERE f.source LIKE 'pr#%' AND f.label IN ('accepted', 'moved', 'added') "
        "AND substr(f.created, 1, 10) BETWEEN ? AND ? ORDER BY f.created, f.id",
        [first, last],
    ))


def digest_row(store: Store, week: str) -> dict[str, Any] | None:
    """The digests row of an ISO week, or None when it was never built."""
    rows = list(store.db.table("digests").rows_where("week = ?", [week]))
    return rows[0] if rows else None


def save_digest(store: Store, week: str, status: str, *, subject: str | None = None, message_id: str | None = None,
                papers: int = 0, created: str | None = None) -> None:
    """Write the digests row of a week (building, or empty: nothing to send)."""
    store.db.table("digests").upsert({"week": week, "status": status, "subject": subject, "message_id": message_id,
                                "papers": papers, "created": created or utcnow(), "sent_at": None}, pk="week")


def set_digest_status(store: Store, week: str, status: str) -> None:
    """Mark a week's digest partial or sent (sent stamps sent_at)."""
    store.db.table("digests").update(week, {"status": status, **({"sent_at": utcnow()} if status == "sent" else {})})


_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


def recipient_key(address: str) -> str:
    """What the store keeps instead of an address (state.db is committed to a public repo): a salted-free hash.

    The same address always gives the same key, so a resumed send can skip those already served.
    """
    return "sha256:" + hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:24]


def scrub_addresses(text: str | None) -> str | None:
    """`text` with every e-mail address replaced by its recipient key (SMTP replies echo the address)."""
    return _ADDRESS.sub(lambda m: recipient_key(m.group(0)), text) if text else text


def served_recipients(store: Store, week: str) -> dict[str, str]:
    """Recipient key -> status for the recipients a week's digest reached (sent) or that refused it."""
    return {r["recipient"]: r["status"] for r in store.db.table("digest_recipients").rows_where("week = ?", [week])
            if r["status"] in ("sent", "refused")}


def mark_recipient(store: Store, week: str, recipient: str, status: str, error: str | None = None) -> None:
    """Record what happened to one recipient of a week's digest (under its key: no address is stored)."""
    store.db.table("digest_recipients").upsert(
        {"week": week, "recipient": recipient_key(recipient), "status": status, "error": scrub_addresses(error),
         "sent_at": utcnow() if status == "sent" else None},
        pk=("week", "recipient"),
    )
