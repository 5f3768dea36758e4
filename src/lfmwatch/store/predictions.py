"""The predictions table: one row per (paper, model version), written once, read by selection and the backtest."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lfmwatch.records import utcnow

if TYPE_CHECKING:
    from lfmwatch.records import Prediction
    from lfmwatch.store.db import Store

_BATCH = 500  # ids per IN (...) list: well under SQLite's limit on bound variables


def unclassified(store: Store, model_version: str) -> list[tuple[str, str, str]]:
    """(id, title, abstract) of every paper without a prediction by `model_version`, by id."""
    rows = store.db.conn.execute(
        "SELECT p.id, p.title, p.abstract FROM papers p LEFT JOIN predictions r "
        "ON r.paper_id = p.id AND r.model_version = ? WHERE r.paper_id IS NULL ORDER BY p.id",
        [model_version],
    ).fetchall()
    return [(r[0], r[1] or "", r[2] or "") for r in rows]


def save_predictions(store: Store, model_version: str, ids: Sequence[str], preds: Sequence[Prediction]) -> int:
    """Store the predictions of papers `ids` (a paper already predicted by this version keeps its row);
    returns how many of them are relevant."""
    now = utcnow()
    values = [
        (pid, model_version, int(p["relevant"]), p["score"], p["section"], p["section_score"],
         json.dumps(p["sections"], ensure_ascii=False), json.dumps(p["why"], ensure_ascii=False), now)
        for pid, p in zip(ids, preds, strict=True)
    ]
    with store.db.atomic():
        store.db.conn.executemany(
            "INSERT OR IGNORE INTO predictions (paper_id, model_version, relevant, score, section, "
            "section_score, sections, why, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
    return sum(v[2] for v in values)


def predictions_of(store: Store, model_version: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """id -> {id, title, relevant (bool), score, section, section_score, sections (decoded)} for stored papers."""
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _BATCH):
        batch = list(ids[start : start + _BATCH])
        marks = ", ".join("?" for _ in batch)
        for r in store.db.query(
            "SELECT pr.paper_id AS id, p.title, pr.relevant, pr.score, pr.section, pr.section_score, pr.sections "
            f"FROM predictions pr JOIN papers p ON p.id = pr.paper_id WHERE pr.model_version = ? "
            f"AND pr.paper_id IN ({marks})", [model_version, *batch],
        ):
            rows[r["id"]] = {**r, "relevant": bool(r["relevant"]), "sections": json.loads(r["sections"] or "[]")}
    return rows


def newest_model_version(store: Store) -> str | None:
    """The version of the model that wrote the newest prediction (None before any classification)."""
    row = store.db.execute("SELECT model_version FROM predictions ORDER BY created DESC, rowid DESC LIMIT 1").fetchone()
    return row[0] if row else None
