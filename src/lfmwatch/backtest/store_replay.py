"""lfmwatch's replay through a fresh temporary state.db: the daily run's own store, classify and select code.

Each replayed day the day's papers are stored (`papers.upsert_papers`), the new ones classified
(`classify.classify_store`), the candidates read back as `propose` reads them (`feedback.load_candidates`: every
relevant prediction not yet proposed, so a paper held back by the daily cap waits for the next day, as in the daily
run), chosen by `select.select_papers` against the list and the store's blocked papers, and recorded as proposed.
Only the GitHub side is left out. The budget curve and threshold sweep select in memory (`backtest.select_days`,
one day's candidates at a time, 30 selections a day) over the predictions this replay stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lfmwatch.backtest.replay import Day, Proposal


def _record(paper: dict[str, Any], day: str) -> dict[str, Any]:
    """A corpus paper as the store keeps it, listed on its replay day."""
    return {"id": str(paper["id"]), "title": paper.get("title") or "", "abstract": paper.get("abstract") or "",
            "categories": list(paper.get("categories") or []), "listed": day, "published": day}


def _day_candidates(store: Any, version: str, papers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored predictions of one day's papers, in the day's order, as `backtest.candidates` shapes them."""
    from lfmwatch.store.predictions import predictions_of

    ids = [str(p["id"]) for p in papers]
    rows = predictions_of(store, version, ids)
    return [rows[i] for i in ids]


def replay_store(
    days: Sequence[Day], model: Any, lst: Any, config: Any, per_day: int, workdir: str | Path | None = None,
) -> tuple[list[Proposal], list[list[dict[str, Any]]], dict[str, int]]:
    """(proposals, each day's candidates, totals) of lfmwatch replaying `days` through a fresh temporary state.db.

    `model` is an LfmModel (classify_store writes its predictions); `config` supplies select.min_score and
    model.threshold (an override, as in the daily run); `per_day` is the daily budget. The candidates are the
    stored predictions, read back for the backtest's curves, so nothing is classified twice.
    """
    from lfmwatch.run.classify import classify_store
    from lfmwatch.select import select_papers
    from lfmwatch.store.db import open_store
    from lfmwatch.store.ledger import blocked_ids, load_candidates, record_local_proposals
    from lfmwatch.store.papers import upsert_papers

    out: list[Proposal] = []
    cands_by_day: list[list[dict[str, Any]]] = []
    totals = {"stored": 0, "classified": 0, "relevant": 0, "carried_over": 0}
    with tempfile.TemporaryDirectory(prefix="lfmwatch-backtest-", dir=workdir) as tmp:
        store = open_store(Path(tmp) / "state.db")
        try:
            for day, papers in days:
                new, _ = upsert_papers(store, [_record(p, day) for p in papers], source="backtest")
                counts = classify_store(store, model)
                cands_by_day.append(_day_candidates(store, model.version, papers))
                today = {str(p["id"]) for p in papers}
                chosen, _ = select_papers(load_candidates(store, config, model.version), lst, blocked_ids(store),
                                          per_day, config.select.min_score, config.select.max_per_section)
                record_local_proposals(store, chosen, proposed_at=day)
                out += [Proposal(day, str(c["id"]), c.get("section"), float(c.get("score") or 0.0)) for c in chosen]
                totals["stored"] += new
                totals["classified"] += counts["classified"]
                totals["relevant"] += counts["relevant"]
                totals["carried_over"] += sum(1 for c in chosen if str(c["id"]) not in today)
        finally:
            store.close()
    return out, cands_by_day, totals
