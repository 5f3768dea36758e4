"""`lfmwatch status`: a plain dict of what the store knows (later stages add their own keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lfmwatch.papers import count_papers
from lfmwatch.poll import WATERMARK_KEY

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.store import Store


def _run_summary(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    keys = ("id", "kind", "started", "finished", "status", "window_start", "window_end",
            "fetched", "new", "updated", "reason", "error")
    return {k: run.get(k) for k in keys}


def collect_status(store: Store, config: Config) -> dict[str, Any]:
    """Papers stored, the last successful poll and its window, the last error, the last runs."""
    runs = store.last_runs(limit=10)
    polls = store.last_runs("poll", limit=50)
    last_ok = next((r for r in polls if r["status"] == "ok"), None)
    last_failed = next((r for r in runs if r["status"] in ("failed", "interrupted")), None)
    last_poll = polls[0] if polls else None
    return {
        "db": str(store.path),
        "papers": count_papers(store),
        "watermark": store.get_state(WATERMARK_KEY),
        "categories": list(config.arxiv.categories),
        "last_poll": _run_summary(last_poll),
        "last_successful_poll": _run_summary(last_ok),
        "last_error": _run_summary(last_failed),
        "runs": [_run_summary(r) for r in runs],
    }
