"""What the store keeps about reviewers' actions on the bot's pull requests (the SQL for pr/sync and pr/commands).

- A comment with `/lfmwatch` commands is handled once: its outcome (`done`, `error`, `refused`) is kept in the
  state table under `command:REPO#COMMENT_ID`, so the bot reacts and replies to it exactly once.
- Lines on the bot's branch that reviewers wrote themselves are proposals rows with status `reviewer` (not the
  bot's proposals: not in the acceptance rate), with the title as written in the list and who added them.
- The outcome of a merge is a feedback row with source `pr#N`; the digest reports only those as merged
  (store.mail.merged_between).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from lfmwatch.records import utcnow
from lfmwatch.store.db import Store

REVIEWER = "reviewer"


def command_outcome(store: Store, repo: str, comment_id: int) -> str | None:
    """How a comment's commands were handled, or None when the bot has not answered it yet."""
    value = store.get_state(f"command:{repo}#{comment_id}")
    return str(value) if value else None


def set_command_outcome(store: Store, repo: str, comment_id: int, outcome: str) -> None:
    """Remember that a comment was answered (`done`, `error` or `refused`)."""
    store.set_state(f"command:{repo}#{comment_id}", outcome)


def proposal(store: Store, paper_id: str) -> dict[str, Any] | None:
    """The proposals row of a paper, or None."""
    rows = list(store.db.query("SELECT * FROM proposals WHERE paper_id = ?", [paper_id]))
    return rows[0] if rows else None


def bot_selected(store: Store, ids: Iterable[str]) -> set[str]:
    """The ids the bot itself chose at some point (their proposals row has a `selected_at`)."""
    ids = list(ids)
    if not ids:
        return set()
    marks = ", ".join("?" for _ in ids)
    return {r[0] for r in store.db.execute(
        f"SELECT paper_id FROM proposals WHERE selected_at IS NOT NULL AND paper_id IN ({marks})", ids).fetchall()}


def mark_reviewer_lines(store: Store, number: int, lines: Sequence[tuple[str, str | None, str, str]]) -> list[str]:
    """Record (id, section, title, author) lines a reviewer added to PR `number`; returns the ids newly marked.

    A row the bot selected is never taken over; a row without one (recorded by propose as "on the branch") is.
    """
    marked = []
    with store.db.atomic():
        for pid, section, title, author in lines:
            row = proposal(store, pid)
            if row is not None and (row.get("selected_at") or row.get("status") == REVIEWER):
                continue
            fields = {"paper_id": pid, "section": section, "status": REVIEWER, "pr_number": number,
                      "title": title, "added_by": author, "proposed_at": (row or {}).get("proposed_at") or utcnow()}
            store.db.table("proposals").upsert(fields, pk="paper_id")
            marked.append(pid)
    return marked


def reviewer_lines(store: Store, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """id -> {title, added_by, section} of the given papers that are reviewers' own lines."""
    ids = list(ids)
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    return {r["paper_id"]: r for r in store.db.query(
        f"SELECT paper_id, title, added_by, section FROM proposals WHERE status = ? AND paper_id IN ({marks})",
        [REVIEWER, *ids])}




def body_details(store: Store, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What the PR body shows a reviewer beyond title and score: authors, abstract, the model's ranked sections
    (newest prediction) and, for reviewers' own lines, `origin` = reviewer with who added them."""
    import json

    ids = list(ids)
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    out: dict[str, dict[str, Any]] = {i: {} for i in ids}
    for r in store.db.query(f"SELECT id, authors, abstract FROM papers WHERE id IN ({marks})", ids):
        try:
            authors = json.loads(r["authors"]) if isinstance(r["authors"], str) else r["authors"]
        except ValueError:
            authors = [r["authors"]]
        out[r["id"]].update(authors=authors if isinstance(authors, list) else [], abstract=r["abstract"])
    for r in store.db.query(
            f"SELECT paper_id, sections FROM predictions WHERE paper_id IN ({marks}) ORDER BY created", ids):
        try:
            out[r["paper_id"]]["sections"] = json.loads(r["sections"] or "[]")
        except ValueError:
            pass
    for pid, r in reviewer_lines(store, ids).items():
        out[pid].update(origin=REVIEWER, added_by=r["added_by"], list_title=r["title"])
    return out
