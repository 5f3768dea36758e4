"""The daily run: where the stages meet. poll → classify → sync → select → summarize → propose.

Sync (reading the reviews of the bot's PRs) runs before select and propose, not after as DESIGN.md's
sketch lists it: a paper a reviewer rejected yesterday must be known as rejected before today's selection,
and propose must see a closed PR as closed before it decides whether to update it or start a new one.

Failure policy. A stage that cannot run at all (no model, no token, arXiv unreachable after retries) raises
an LfmwatchError: the run stops, is recorded as failed with that message, and the command exits 1. Inside a
stage, one bad paper, one failed summary, one GitHub hiccup is the stage's own business: it counts and
reports it and goes on. Summaries are optional: when the LLM is unreachable the run goes on without them.

Convergence. Every stage is idempotent on the store (watermarks, upserts, proposal states), so a run killed
anywhere and run again ends where one uninterrupted run would. A run row left "running" by a killed process
is marked "interrupted" by the next run, which holds the run lock (so the old one cannot still be alive).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from lfmwatch.errors import LfmwatchError
from lfmwatch.records import logical_day, utcnow
from lfmwatch.run.report import RunReport, StageResult
from lfmwatch.store.runs import RunRecord, recorded_run

if TYPE_CHECKING:
    from openai import OpenAI

    from lfmwatch.adapters.github import GitHubSession
    from lfmwatch.config import Config
    from lfmwatch.ingest.poll import PaperSource
    from lfmwatch.model.classifier import LfmModel
    from lfmwatch.pr.reads import RunReads
    from lfmwatch.run.runlog import RunLog
    from lfmwatch.store.db import Store

log = logging.getLogger("lfmwatch.run")

STAGES = ("poll", "classify", "sync", "select", "summarize", "propose", "compact")


@dataclass
class Adapters:
    """The outside world, injectable: tests point these at the loopback fakes."""

    source: PaperSource | None = None  # default ArxivSource.from_config(config)
    github: Callable[[], GitHubSession] | None = None  # default from GITHUB_API_URL/GITHUB_TOKEN
    llm: OpenAI | None = None  # an OpenAI-compatible client; default built by lfmwatch.adapters.llm from the env
    model: LfmModel | None = None  # default load_model(config.model.path)
    today: Callable[[], date] | None = None  # the run's calendar day (reasons about weekdays)
    until: date | None = None  # replay: the run polls up to this day and acts as of it (`run --until`)


class RunFailed(LfmwatchError):
    """The daily run stopped because a stage could not run (message and hint say what to do)."""


class StopRequested(Exception):
    """The daemon asked the run to stop at the next stage boundary."""


# --- the run -----------------------------------------------------------------------------------------


def run_daily(
    store: Store,
    config: Config,
    *,
    dry_run: bool = False,
    adapters: Adapters | None = None,
    stop: threading.Event | None = None,
    runlog: RunLog | None = None,
) -> RunReport:
    """Run the daily pipeline once under the "run" lock and record it; never raises for a stage failure.

    With `dry_run`, `store` must already be a throw-away copy (see `dry_run_store`): GitHub is only read.
    A stage that cannot run sets status "failed" with `error`/`hint`; the caller decides the exit code.
    """
    adapters = adapters or Adapters()
    report = RunReport(dry_run=dry_run)
    with logical_day(adapters.until), recorded_run(store, "run", lock="run") as run:
        report.run_id = run.id
        report.started = utcnow()
        ctx = _Context(store, config, adapters, report, dry_run, runlog=runlog)
        try:
            for name in STAGES:
                if stop is not None and stop.is_set():
                    raise StopRequested(f"stopped before {name}")
                _run_stage(ctx, name, runlog)
            report.status = "ok"
            report.reason = "" if report.proposed else explain_nothing_proposed(ctx)
        except StopRequested as exc:
            report.status, report.reason = "interrupted", str(exc)
        except KeyboardInterrupt:
            report.status, report.reason = "interrupted", "interrupted by the user"
            _finish(run, report)
            raise
        except LfmwatchError as exc:
            report.status, report.error, report.hint = "failed", exc.message, exc.hint or ""
        except sqlite3.DatabaseError as exc:  # disk full, damaged pages: an environment error with a hint
            from lfmwatch.store.db import environment_error

            env = environment_error(exc, store.path)
            report.status, report.error, report.hint = "failed", env.message, env.hint or ""
        except Exception as exc:  # a bug: record it with where it happened, then report it like any failure
            report.status = "failed"
            report.error = f"{type(exc).__name__}: {exc}"
            report.hint = "this is a bug in lfmwatch; the traceback is in the run's error field"
            log.debug("run failed", exc_info=True)
            report.error += "\n" + "".join(traceback.format_exception(exc)[-3:])
        finally:
            if ctx.github is not None and hasattr(ctx.github, "close"):
                ctx.github.close()  # the HTTP pool; the daemon runs many days in one process
        _finish(run, report)
    return report


def _finish(run: RunRecord, report: RunReport) -> None:
    report.finished = utcnow()
    error = report.error + (f"\nhint: {report.hint}" if report.hint else "") if report.error else None
    run.finish(report.status, counts=report.counts(), reason=report.reason or None, error=error,
               new=_count(report, "poll", "new"), fetched=_count(report, "poll", "fetched"),
               updated=_count(report, "poll", "updated"))


def _count(report: RunReport, stage: str, key: str) -> int | None:
    s = report.stage(stage)
    value = s.counts.get(key) if s else None
    return value if isinstance(value, int) else None





@dataclass
class _Context:
    store: Store
    config: Config
    adapters: Adapters
    report: RunReport
    dry_run: bool
    selected: list[dict[str, Any]] = field(default_factory=list)
    github: Any = None
    propose_reason: str = ""
    runlog: RunLog | None = None
    reads: RunReads = field(default_factory=lambda: _run_reads())  # GitHub reads shared by sync, select, propose

    def github_session(self) -> Any:
        """The GitHub session (created once, on first use)."""
        if self.github is None:
            if self.adapters.github is not None:
                self.github = self.adapters.github()
            else:
                from lfmwatch.adapters.github import GitHubSettings, connect

                self.github = connect(GitHubSettings.from_config(self.config))
        return self.github


def _run_reads() -> RunReads:
    from lfmwatch.pr.reads import RunReads

    return RunReads()


def _run_stage(ctx: _Context, name: str, runlog: RunLog | None) -> None:
    result = StageResult(name)
    ctx.report.stages.append(result)
    if runlog is not None:
        runlog.start(name)
    t0 = time.perf_counter()
    try:
        _STAGE_FUNCS[name](ctx, result)
    except LfmwatchError as exc:
        result.status = "failed"
        result.errors.append(exc.message)
        raise
    except Exception as exc:
        result.status = "failed"
        result.errors.append(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        result.seconds = round(time.perf_counter() - t0, 3)
        if runlog is not None:
            runlog.done(result)


# --- stages ------------------------------------------------------------------------------------------


def _stage_poll(ctx: _Context, result: StageResult) -> None:
    from lfmwatch.ingest.poll import poll

    source = ctx.adapters.source
    if source is None:
        from lfmwatch.adapters.arxiv import ArxivSource

        source = ArxivSource.from_config(ctx.config)
    if ctx.runlog is not None:
        source = _CountingSource(source, ctx.runlog.items("poll", "papers fetched"))
    pr = poll(ctx.store, ctx.config, source, until=ctx.adapters.until)
    result.counts = {"fetched": pr.fetched, "new": pr.new, "updated": pr.updated}
    result.counts["window"] = f"{(pr.window_start or '?')[:10]}..{(pr.window_end or '?')[:10]}"
    result.note = pr.reason
    result.errors.extend(pr.warnings)


class _CountingSource:
    """A PaperSource that reports every paper it yields (progress of the poll stage)."""

    def __init__(self, source: Any, tick: Callable[[int, int | None], None]) -> None:
        self.source, self.tick, self.done = source, tick, 0
        self.stats = getattr(source, "stats", None)  # poll reports request counts from it

    def search(self, query: str, max_results: int | None = None) -> Any:
        """Search through the wrapped source, counting results."""
        return _CountingStream(self, self.source.search(query, max_results))


class _CountingStream:
    def __init__(self, owner: _CountingSource, stream: Any) -> None:
        self.owner, self.stream = owner, stream

    @property
    def total(self) -> int | None:
        return self.stream.total

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for paper in self.stream:
            self.owner.done += 1
            self.owner.tick(self.owner.done, None)
            yield paper


def _stage_classify(ctx: _Context, result: StageResult) -> None:
    from lfmwatch.run.classify import classify_store

    model = ctx.adapters.model
    if model is None:
        from lfmwatch.model.io import load_model

        model = load_model(ctx.config.model.path)
        ctx.adapters.model = model
    threshold = ctx.config.model.threshold if ctx.config.model.threshold >= 0 else None
    counts = classify_store(ctx.store, model, threshold=threshold)
    result.counts = dict(counts)
    ctx.report.retrain = _retrain_since_last_run(ctx.store, ctx.report.run_id)


def _retrain_since_last_run(store: Store, run_id: int | None) -> str:
    """The line of a retrain recorded after the previous daily run started ("" when none)."""
    from lfmwatch.run.retrain import summary_line
    from lfmwatch.store.training import last_train_run

    previous = next((r for r in store.last_runs("run", limit=2) if r["id"] != run_id), None)
    run = last_train_run(store, after=previous["started"] if previous else None)
    return f"{run.get('finished')}: {summary_line(run['summary'])}" if run else ""


def _stage_sync(ctx: _Context, result: StageResult) -> None:
    from lfmwatch.errors import GitHubError
    from lfmwatch.pr import sync

    try:
        counts = sync.sync_pulls(ctx.store, ctx.config, ctx.github_session(), dry_run=ctx.dry_run,
                                 reads=ctx.reads)
    except GitHubError as exc:
        # Learning from reviews can wait a day: proposals stay blocked until their outcome is read, and
        # propose reads the PR's state itself. If GitHub is really unusable, select stops the run next.
        result.status, result.errors = "failed", [str(exc)]
        return
    result.counts = dict(counts)


def _stage_select(ctx: _Context, result: StageResult) -> None:
    from lfmwatch.pr import propose
    from lfmwatch.store.ledger import proposed_on

    on_branch: set[str] = set()
    model = ctx.adapters.model  # loaded by classify: its predictions are the candidates
    chosen, counts = propose.select_for_pr(ctx.store, ctx.config, ctx.github_session(), on_branch=on_branch,
                                           model_version=model.version if model is not None else None,
                                           reads=ctx.reads)
    # select.max_per_run is spent per calendar day (UTC): a second run the same day, or a rerun after a
    # crash, must not propose the next batch of a backlog. Only papers that reached GitHub count: picks
    # recorded by a run that died (or was refused) before its commit are picked again and finish the job.
    today = (ctx.adapters.today or (lambda: ctx.adapters.until or datetime.now(UTC).date()))().isoformat()
    done_today = proposed_on(ctx.store, today, on_branch)
    budget = max(0, ctx.config.select.max_per_run - done_today)
    stranded = [c for c in chosen if c["id"] in on_branch]  # on GitHub already: counted in done_today
    fresh = [c for c in chosen if c["id"] not in on_branch]
    if len(fresh) > budget:
        counts["over_daily_cap"] = len(fresh) - budget
    chosen = stranded + fresh[:budget]
    ctx.selected = chosen
    result.counts = {"selected": len(chosen), **counts, "proposed_today": done_today}


def _stage_summarize(ctx: _Context, result: StageResult) -> None:
    if not ctx.config.summaries.enabled:
        result.status, result.note = "skipped", "summaries are off (summaries.enabled = false)"
        return
    if ctx.dry_run:
        result.status, result.note = "skipped", "dry run: no LLM requests"
        return
    from lfmwatch.adapters.llm import pending_summary_ids, summarize_papers

    # Today's selection first, then papers already in the PR whose summary failed on an earlier day.
    ids = list(dict.fromkeys([p["id"] for p in ctx.selected] + pending_summary_ids(ctx.store, ctx.config)))
    if not ids:
        result.status, result.note = "skipped", "no paper to summarize"
        return
    try:
        sr = summarize_papers(ctx.store, ctx.config, ids, client=ctx.adapters.llm)
    except LfmwatchError as exc:
        # Summaries are optional: a missing or unreachable LLM costs the PR its summaries, not the run.
        result.status, result.errors = "failed", [str(exc)]
        return
    result.counts = {k: v for k, v in _as_counts(sr).items() if v}
    result.note = sr.line()
    result.errors.extend(sr.errors[:5])


def _stage_propose(ctx: _Context, result: StageResult) -> None:
    # Runs even when nothing was selected: a run killed after writing the branch (or after opening the PR)
    # is completed here (PR opened, proposals marked), and the PR body is refreshed (summaries, moves).
    from lfmwatch.pr import propose
    outcome = propose.propose_to_github(ctx.store, ctx.config, ctx.github_session(), ctx.selected,
                                        run_id=ctx.report.run_id, dry_run=ctx.dry_run, reads=ctx.reads)
    ctx.reads.invalidate()  # propose may have written: nothing it read is handed on
    by_id = {p["id"]: p for p in (*outcome.papers, *ctx.selected)}
    # Opening the PR that an interrupted run's commit was waiting for proposes its papers now: say so.
    proposed = outcome.proposed or ([p["id"] for p in outcome.papers] if outcome.created_pr else [])
    ctx.report.proposed = [
        {"id": pid, "title": by_id.get(pid, {}).get("title"), "section": by_id.get(pid, {}).get("section"),
         "score": by_id.get(pid, {}).get("score")}
        for pid in proposed
    ]
    ctx.report.pr_number, ctx.report.pr_url = outcome.pr_number, outcome.pr_url
    if ctx.dry_run:
        ctx.report.pr_body, ctx.report.diff = outcome.body, outcome.diff
    result.counts = {"proposed": len(outcome.proposed), "in_pr": len(outcome.papers)}
    if outcome.refused:
        result.counts["refused"] = len(outcome.refused)
    if proposed and outcome.pr_number:
        result.note = f"{'opened' if outcome.created_pr else 'updated'} PR #{outcome.pr_number}"
    else:
        result.note = outcome.reason
    ctx.propose_reason = outcome.reason
    result.errors.extend(outcome.errors)


def _stage_compact(ctx: _Context, result: StageResult) -> None:
    """Retention at the end of the day: the committed state.db stays small (lfmwatch.store.retention)."""
    if ctx.dry_run:
        result.status, result.note = "skipped", "dry run: the store is a throw-away copy"
        return
    from lfmwatch.store.retention import RetentionPolicy, compact

    report = compact(ctx.store, RetentionPolicy.from_config(ctx.config))
    result.counts = {"dropped": report.papers_dropped, "kept": report.papers_after, "bytes": report.bytes_after}


_STAGE_FUNCS: dict[str, Callable[[_Context, StageResult], None]] = {
    "poll": _stage_poll,
    "classify": _stage_classify,
    "sync": _stage_sync,
    "select": _stage_select,
    "summarize": _stage_summarize,
    "propose": _stage_propose,
    "compact": _stage_compact,
}


def _as_counts(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return dict(obj)
    try:
        return {k: v for k, v in asdict(obj).items() if isinstance(v, int | float | str)}
    except TypeError:
        return {}


# --- why nothing was proposed ------------------------------------------------------------------------


def explain_nothing_proposed(ctx: _Context) -> str:
    """One line: why this run proposed no paper (first matching cause, upstream first)."""
    r = ctx.report
    poll_s, cls_s, sel_s = r.stage("poll"), r.stage("classify"), r.stage("select")
    sel = sel_s.counts if sel_s else {}
    window = poll_s.counts.get("window", "") if poll_s else ""
    classified = cls_s.counts.get("classified", 0) if cls_s else 0
    relevant = cls_s.counts.get("relevant", 0) if cls_s else 0
    if sel.get("pr_full"):
        return (f"PR cap reached: the open pull request already holds {sel.get('in_pr', '?')} papers "
                f"(select.max_per_pr = {ctx.config.select.max_per_pr})")
    if sel.get("over_daily_cap") and not sel.get("selected"):
        return (f"daily cap reached: {sel.get('proposed_today')} papers were already proposed today "
                f"(select.max_per_run = {ctx.config.select.max_per_run}); {sel['over_daily_cap']} wait for tomorrow")
    if poll_s and poll_s.counts.get("fetched", 0) == 0 and not classified:
        weekdays, past_days = _weekdays_in(window)
        if weekdays:
            return f"arXiv returned no papers for {', '.join(weekdays)} (window {window}): an arXiv outage or delay?"
        if past_days:
            return f"no new papers in the window {window} (a weekend: arXiv announces nothing new)"
        return f"no new papers in the window {window} (nothing submitted yet today)"
    if poll_s and poll_s.counts.get("new", 0) == 0 and not classified:
        return f"no new papers in the window {window}"
    if classified and not relevant:
        return f"all {classified} newly classified papers are below the relevance threshold"
    if sel.get("in_list") or sel.get("blocked"):
        return (f"all relevant papers are already in the list ({sel.get('in_list', 0)}) or were proposed or "
                f"rejected before ({sel.get('blocked', 0)})")
    if sel.get("below_floor"):
        return f"all relevant papers are below select.min_score ({ctx.config.select.min_score})"
    if sel.get("no_section"):
        return "no relevant paper has a section of the list"
    return ctx.propose_reason or "no relevant paper waiting to be proposed"


def _weekdays_in(window: str) -> tuple[list[str], int]:
    """Weekdays of the window before its last day, and how many days precede the last day."""
    try:
        a, b = (date.fromisoformat(x) for x in window.split(".."))
    except ValueError:
        return [], 0
    # The window's last day is today, still being submitted to: a quiet today is no sign of an outage.
    days = [date.fromordinal(n) for n in range(a.toordinal(), b.toordinal())][:14]
    return [d.strftime("%a %Y-%m-%d") for d in days if d.weekday() < 5], len(days)
