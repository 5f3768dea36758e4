"""Poll arXiv for new papers of the configured categories, window by window, resumable and idempotent.

The range is split into day-aligned windows of `arxiv.window_days`; a window whose `totalResults` exceeds
`arxiv.max_window_results` is halved (down to one minute) before any of it is stored. Papers are upserted page by
page, so a crash loses at most the page in flight; the watermark (`state["poll.watermark"]`, the inclusive end of
the last completed window) moves only when a window completed and only forward from a contiguous range, so a
rerun resumes from it minus `arxiv.overlap_days` and re-fetching is harmless (upserts are idempotent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from lfmwatch.errors import InputError
from lfmwatch.store.papers import upsert_papers
from lfmwatch.store.runs import recorded_run

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.store.db import Store

log = logging.getLogger(__name__)

WATERMARK_KEY = "poll.watermark"  # end (inclusive, minute precision) of the last window polled to completion
_MINUTE = timedelta(minutes=1)
_FMT = "%Y-%m-%dT%H:%M"


class ResultStreamLike(Protocol):
    """What `PaperSource.search` returns: paper dicts, and the total once the first page arrived."""

    total: int | None

    def __iter__(self) -> Iterator[dict[str, Any]]: ...


class PaperSource(Protocol):
    """The narrow interface poll needs (ArxivSource implements it)."""

    def search(self, query: str, max_results: int | None = None) -> ResultStreamLike: ...


@dataclass
class PollResult:
    """What a poll did."""

    fetched: int = 0
    new: int = 0
    updated: int = 0
    window_start: str | None = None
    window_end: str | None = None
    reason: str = ""
    windows: int = 0  # windows (after splitting) completed
    run_id: int | None = None
    store_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One-line report: "fetched N, new M, updated K, window A..B" plus the reason when nothing is new."""
        window = f"{(self.window_start or '?')[:10]}..{(self.window_end or '?')[:10]}"
        text = f"fetched {self.fetched}, new {self.new}, updated {self.updated}, window {window}"
        return f"{text} ({self.reason})" if self.reason else text


def build_query(categories: list[str], extra_query: str, start: datetime, end: datetime) -> str:
    """arXiv search_query: categories OR-ed, AND the extra query, AND the submittedDate window (inclusive)."""
    cats = " OR ".join(f"cat:{c}" for c in categories)
    parts = [f"({cats})"]
    if extra_query.strip():
        parts.append(f"({extra_query.strip()})")
    parts.append(f"submittedDate:[{start:%Y%m%d%H%M} TO {end:%Y%m%d%H%M}]")
    return " AND ".join(parts)


def plan_windows(start: datetime, end: datetime, window_days: int) -> list[tuple[datetime, datetime]]:
    """Split [start, end] (inclusive, minutes) into day-aligned windows of `window_days` days."""
    windows = []
    ws = start
    while ws <= end:
        day0 = datetime(ws.year, ws.month, ws.day, tzinfo=UTC)
        we = min(day0 + timedelta(days=window_days) - _MINUTE, end)
        windows.append((ws, we))
        ws = we + _MINUTE
    return windows


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def get_watermark(store: Store) -> datetime | None:
    """End of the last window polled to completion, or None before the first poll."""
    value = store.get_state(WATERMARK_KEY)
    if not value:
        return None
    return datetime.strptime(value, _FMT).replace(tzinfo=UTC)


def resolve_range(store: Store, config: Config, since: date | None, until: date | None) -> tuple[datetime, datetime]:
    """The [start, end] to poll: explicit dates (inclusive days), else catch up from the watermark minus overlap."""
    end = _day_start(until) + timedelta(days=1) - _MINUTE if until else _now()
    if until and end > _now():
        end = _now()
    if since:
        start = _day_start(since)
    else:
        wm = get_watermark(store)
        if wm is None:
            start = _day_start(end.date() - timedelta(days=config.arxiv.first_poll_days))
        else:
            start = _day_start(wm.date() - timedelta(days=config.arxiv.overlap_days))
    if since and until and since > until:
        raise InputError(f"--since {since} is after --until {until}", "give --since on or before --until")
    return start, end


class _Poller:
    def __init__(self, store: Store, config: Config, source: PaperSource, result: PollResult) -> None:
        self.store, self.config, self.source, self.result = store, config, source, result
        self.batch_size = max(1, config.arxiv.page_size)

    def window(self, ws: datetime, we: datetime) -> None:
        """Fetch one window into the store, splitting it while the API would return too many results."""
        query = build_query(self.config.arxiv.categories, self.config.arxiv.extra_query, ws, we)
        stats = getattr(self.source, "stats", None)
        bad_before = len(getattr(stats, "bad_entries", []))
        stream = self.source.search(query)
        batch: list[dict[str, Any]] = []
        fetched = 0
        for paper in stream:
            total = stream.total or 0
            if fetched == 0 and total > self.config.arxiv.max_window_results:
                if we - ws >= _MINUTE:
                    mid = ws + (we - ws) // 2
                    mid = mid.replace(second=0, microsecond=0)
                    log.info("window %s..%s has %d results: splitting", ws, we, total)
                    self.window(ws, mid)
                    self.window(mid + _MINUTE, we)
                    return
                self.result.warnings.append(
                    f"{ws:%Y-%m-%d %H:%M} has {total} results, more than arXiv serves in one query"
                )
            batch.append(paper)
            fetched += 1
            if len(batch) >= self.batch_size:
                self._flush(batch)
                batch = []
        self._flush(batch)
        for entry_id, why in getattr(stats, "bad_entries", [])[bad_before:]:
            self.result.warnings.append(f"skipped arXiv entry {entry_id!r} in window {ws:%Y-%m-%d %H:%M}.."
                                        f"{we:%Y-%m-%d %H:%M}: {why}")
        self.result.windows += 1
        self._advance(ws, we)

    def _flush(self, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        t0 = time.perf_counter()
        new, updated = upsert_papers(self.store, batch, "arxiv")
        self.result.store_seconds += time.perf_counter() - t0
        self.result.fetched += len(batch)
        self.result.new += new
        self.result.updated += updated

    def _advance(self, ws: datetime, we: datetime) -> None:
        # Only a window contiguous with the watermark moves it: an explicit later range must not hide a gap.
        wm = get_watermark(self.store)
        if wm is None or (ws <= wm + _MINUTE and we > wm):
            self.store.set_state(WATERMARK_KEY, we.strftime(_FMT))


def poll(
    store: Store,
    config: Config,
    source: PaperSource,
    *,
    since: date | None = None,
    until: date | None = None,
) -> PollResult:
    """Fetch papers submitted in the range into the store; records a `runs` row; holds the "poll" lock."""
    start, end = resolve_range(store, config, since, until)
    result = PollResult(window_start=start.strftime(_FMT), window_end=end.strftime(_FMT))

    def totals() -> dict[str, Any]:
        return {"fetched": result.fetched, "new": result.new, "updated": result.updated,
                "counts": _counts(result, source)}

    with recorded_run(store, "poll", lock="poll", on_failure=totals, window_start=result.window_start,
                      window_end=result.window_end) as run:
        result.run_id = run.id
        poller = _Poller(store, config, source, result)
        if start > end:
            result.reason = f"nothing to poll: the range starts after it ends ({start:%Y-%m-%d})"
        for ws, we in plan_windows(start, end, config.arxiv.window_days):
            poller.window(ws, we)
        if not result.reason and result.new == 0 and result.updated == 0:
            window = f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"
            if result.fetched == 0:
                result.reason = f"arXiv lists no papers of the configured categories submitted in {window}"
            else:
                result.reason = f"all {result.fetched} papers submitted in {window} are already stored, unchanged"
        run.finish("ok", **totals(), reason=result.reason or None, error="; ".join(result.warnings) or None)
    return result


def _counts(result: PollResult, source: Any) -> dict[str, Any]:
    counts: dict[str, Any] = {"fetched": result.fetched, "new": result.new, "updated": result.updated,
                              "windows": result.windows}
    stats = getattr(source, "stats", None)
    if stats is not None:
        counts.update(requests=stats.requests, retries=stats.retries)
    return counts
