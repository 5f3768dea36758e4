"""Commands `run` (the daily pipeline) and `daemon` (the scheduler process)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from lfmwatch.cli.app import App, pass_app


@click.command("run")
@click.option("--dry-run", is_flag=True,
              help="Work on a temporary copy of the store, read GitHub only, print what would happen.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.option("--until", "until", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Replay a past day: poll up to DATE (YYYY-MM-DD) and count the daily cap for that day.")
@pass_app
def run_cmd(app: App, dry_run: bool, as_json: bool, until: Any) -> None:
    """The daily pipeline: poll → classify → sync → select → summarize → propose."""
    from lfmwatch.run.pipeline import STAGES, Adapters, RunFailed, run_daily
    from lfmwatch.run.runlog import RunLog, write_step_summary
    from lfmwatch.store.db import dry_run_store
    from lfmwatch.textsafe import one_line

    config = app.config
    day = until.date() if until else None
    if day is not None and day > datetime.now(UTC).date():
        raise click.BadParameter(f"{day} is in the future; --until replays past days", param_hint="--until")
    adapters = Adapters(until=day)
    with RunLog(list(STAGES), stream=sys.stderr) as runlog:
        if dry_run:
            with dry_run_store(config.db_path) as copy:
                report = run_daily(copy, config, dry_run=True, runlog=runlog, adapters=adapters)
        else:
            report = run_daily(app.store, config, runlog=runlog, adapters=adapters)
    write_step_summary(report)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        if dry_run and report.diff:
            click.echo(report.diff)
        if dry_run and report.pr_body:
            click.echo(report.pr_body)
        for paper in report.proposed:
            # Untrusted text: one line, no control or escape sequences on the terminal.
            click.echo("\t".join(one_line(str(v)) for v in
                                 (paper.get("id"), paper.get("section") or "?", paper.get("title") or "")))
        if report.retrain:
            click.echo(f"model retrained since the last run: {one_line(report.retrain)}")
        click.echo(report.line())
    if report.status == "failed":
        raise RunFailed(f"the run stopped in {report.failed_stage()}: {report.error}", report.hint or None)
    if report.status == "interrupted":
        raise click.exceptions.Exit(130)


@click.command("daemon")
@click.pass_context
def daemon_cmd(ctx: click.Context) -> None:
    """Run the daily pipeline and the weekly digest on the schedule in lfmwatch.toml until SIGTERM/SIGINT."""
    from lfmwatch.run.daemon import configure_logging, make_daemon

    app: App = ctx.obj
    verbose = bool(ctx.parent and ctx.parent.params.get("verbose"))
    configure_logging(verbose)
    make_daemon(app.config).serve()


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    group.add_command(run_cmd)
    group.add_command(daemon_cmd)
