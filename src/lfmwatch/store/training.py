"""What retraining reads from the store: feedback with its pull request's outcome, every paper's text (for the
retrain's effect), and the retrain records (`runs` rows of kind `train`). The stream sample is
`lfmwatch.store.retention.stream_sample` (what compaction keeps)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lfmwatch.store.db import Store

TRAIN_RUN = "train"


def feedback_outcomes(store: Store) -> list[dict[str, Any]]:
    """Every feedback row in order (paper_id, label, section, source) with `pr_state`: the state of the pull
    request named by a `pr#N` source (merged/closed/open), else None."""
    rows = store.db.execute(
        "SELECT f.paper_id, f.label, f.section, f.source, pr.state FROM feedback f "
        "LEFT JOIN pull_requests pr ON f.source = 'pr#' || pr.number ORDER BY f.id"
    ).fetchall()
    return [{"paper_id": r[0], "label": r[1], "section": r[2], "source": r[3], "pr_state": r[4]} for r in rows]


def iter_paper_texts(store: Store, batch: int = 2000) -> Iterator[list[dict[str, Any]]]:
    """Every stored paper's id, title, abstract and listing day, in batches (for re-scoring the store)."""
    cur = store.db.conn.execute(
        "SELECT id, title, abstract, COALESCE(NULLIF(listed, ''), substr(published, 1, 10), substr(first_seen, 1, 10)) "
        "FROM papers ORDER BY id")
    while True:
        rows = cur.fetchmany(batch)
        if not rows:
            return
        yield [{"id": r[0], "title": r[1], "abstract": r[2] or "", "listed": r[3]} for r in rows]


def record_train_run(store: Store, status: str, reason: str, summary: dict[str, Any]) -> int:
    """A finished `runs` row of kind `train` holding the retrain's summary (verdict, figures, effect)."""
    run_id = store.start_run(TRAIN_RUN)
    store.finish_run(run_id, status, reason=reason, counts=summary)
    return run_id


def last_train_run(store: Store, after: str | None = None) -> dict[str, Any] | None:
    """The newest retrain record (its summary parsed), optionally only one started after `after` (ISO time)."""
    for run in store.last_runs(TRAIN_RUN, limit=1):
        if after and (run.get("started") or "") <= after:
            return None
        run["summary"] = run.get("counts") or {}
        return run
    return None
