"""How a run shows itself: rich progress on a terminal, plain log lines elsewhere, a Markdown step summary."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from lfmwatch.ids import exact_arxiv_id

if TYPE_CHECKING:
    from lfmwatch.run.report import RunReport, StageResult

log = logging.getLogger("lfmwatch.run")


class RunLog:
    """Stage progress: a rich progress bar when `stream` is a terminal, one log line per stage otherwise."""

    def __init__(self, stages: list[str], *, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stages = stages
        self.stream = stream if stream is not None else sys.stderr
        if interactive is None:
            interactive = bool(getattr(self.stream, "isatty", lambda: False)()) and os.environ.get("CI") is None
        self.interactive = interactive
        self._progress: Any = None
        self._task: Any = None
        self._subtasks: dict[str, list[Any]] = {}

    def __enter__(self) -> RunLog:
        if self.interactive:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(file=self.stream), transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("starting", total=len(self.stages))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def start(self, stage: str) -> None:
        """A stage begins."""
        if self._progress is not None:
            self._progress.update(self._task, description=stage)
        else:
            log.info("%s: starting", stage)

    def done(self, result: StageResult) -> None:
        """A stage ended (ok, skipped or failed)."""
        if self._progress is not None:
            for task in self._subtasks.pop(result.name, []):
                self._progress.remove_task(task)
            self._progress.advance(self._task)
            # Stage text carries untrusted error messages: print it verbatim, never as rich markup.
            self._progress.console.print(f"  {result.name}: {result.line()}", markup=False, highlight=False,
                                         emoji=False)
        else:
            level = logging.WARNING if result.status == "failed" or result.errors else logging.INFO
            log.log(level, "%s: %s", result.name, result.line())

    def items(self, stage: str, unit: str) -> Callable[[int, int | None], None]:
        """A counter for a long stage: call it with (items done so far, total or None)."""
        if self._progress is not None:
            task = self._progress.add_task(f"  {stage}: {unit}", total=None)
            self._subtasks.setdefault(stage, []).append(task)

            def tick(done: int, total: int | None) -> None:
                self._progress.update(task, completed=done, total=total)

            return tick
        step = 500  # a log line every `step` items keeps Actions logs readable

        def log_tick(done: int, total: int | None) -> None:
            if done % step == 0:
                log.info("%s: %d %s%s", stage, done, unit, f" of {total}" if total else "")

        return log_tick

    def note(self, message: str) -> None:
        """A free-form progress line."""
        if self._progress is not None:
            self._progress.console.print(f"  {message}", markup=False, highlight=False, emoji=False)
        else:
            log.info("%s", message)


def markdown_summary(report: RunReport) -> str:
    """The run as Markdown: headline, the stage table, proposed papers, errors."""
    mode = " (dry run)" if report.dry_run else ""
    lines = [f"## lfmwatch run{mode}: {report.status}", "", _cell(report.line()), ""]
    lines += ["| stage | status | what happened | time |", "|---|---|---|---|"]
    for s in report.stages:
        what = s.line().removeprefix(f"{s.status}: ")
        lines.append(f"| {s.name} | {s.status} | {_cell(what)} | {s.seconds:.1f} s |")
    if report.proposed:
        lines += ["", f"### Proposed ({len(report.proposed)})", ""]
        for p in report.proposed:
            section = p.get("section") or "?"
            pid = str(p.get("id"))
            aid = exact_arxiv_id(pid)
            link = f"[{aid}](https://arxiv.org/abs/{aid})" if aid else f"`{_cell(pid)}`"
            lines.append(f"- {link} {_cell(str(p.get('title') or ''))} → {_cell(section)}")
    if report.pr_url:
        lines += ["", f"Pull request: {report.pr_url}"]
    if report.retrain:
        lines += ["", "### Model retrained since the last run", "", _cell(report.retrain)]
    errors = [(s.name, e) for s in report.stages for e in s.errors]
    if errors or report.error:
        lines += ["", "### Errors", ""]
        lines += [f"- {name}: {_cell(e)}" for name, e in errors]
        if report.error:
            lines.append(f"- {_cell(report.error)}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Untrusted text (titles, error messages) as inert Markdown: no links, HTML, mentions or table breaks."""
    from lfmwatch.textsafe import md_inline

    return md_inline(text, max_len=300)


def write_step_summary(report: RunReport) -> Path | None:
    """Append the Markdown summary to $GITHUB_STEP_SUMMARY when Actions set it."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(markdown_summary(report))
    except OSError as exc:  # a summary is a courtesy: never fail the run for it
        log.warning("cannot write the step summary to %s: %s", path, exc)
        return None
    return path
