"""Commands that fill and inspect the store: `poll`, `import`, `search`, `status`."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from lfmwatch.cli.app import App, pass_app


class _Date(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return datetime.strptime(str(value), "%Y-%m-%d").date()
        except ValueError:
            self.fail(f"{value!r} is not a date like 2025-06-01", param, ctx)


DATE = _Date()


@click.command("poll")
@click.option("--since", type=DATE, default=None, help="First submission day to fetch (YYYY-MM-DD).")
@click.option("--until", type=DATE, default=None, help="Last submission day to fetch (YYYY-MM-DD, inclusive).")
@pass_app
def poll_cmd(app: App, since: date | None, until: date | None) -> None:
    """Fetch new papers from arXiv into the store; without dates, catch up from the last successful poll."""
    from lfmwatch.adapters.arxiv import ArxivSource
    from lfmwatch.ingest.poll import poll

    if since is not None and until is not None and since > until:
        raise click.UsageError(f"--since {since} is after --until {until}: give --since on or before --until")
    result = poll(app.store, app.config, ArxivSource.from_config(app.config), since=since, until=until)
    click.echo(result.line())
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def import_cmd(app: App, file: Path) -> None:
    """Load papers from a JSONL(.gz) corpus (id, title, abstract, authors, categories, comment, listed)."""
    from lfmwatch.ingest.importer import import_jsonl

    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TimeRemainingColumn(), transient=True, console=Console(stderr=True)) as bar:
            task = bar.add_task(f"importing {file.name}", total=file.stat().st_size if file.is_file() else None)
            result = import_jsonl(app.store, file, progress=lambda done, total: bar.update(task, completed=done))
    else:
        result = import_jsonl(app.store, file)
    click.echo(result.line())
    for lineno, reason in result.bad_lines[:10]:
        click.echo(f"  line {lineno}: {reason}", err=True)


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Matches shown at most.")
@pass_app
def search_cmd(app: App, query: tuple[str, ...], limit: int) -> None:
    """Full-text search of the stored papers' titles and abstracts (best first: id, date, title)."""
    from lfmwatch.store.papers import search_papers
    from lfmwatch.textsafe import one_line

    text = " ".join(query)
    hits = search_papers(app.store, text, limit=limit)
    if not hits:
        click.echo(f"no stored paper matches {text!r}")
        return
    for p in hits:
        day = (p.get("published") or p.get("listed") or "")[:10] or "----------"
        click.echo(f"{p['id']}\t{day}\t{one_line(p['title'])}")  # no terminal escapes from paper text


def _run_line(run: dict[str, Any] | None) -> str:
    if not run:
        return "never"
    parts = [f"#{run.get('id')} {run.get('status')} {run.get('started') or ''}"]
    if run.get("window_start"):
        parts.append(f"window {str(run['window_start'])[:10]}..{str(run.get('window_end') or '')[:10]}")
    if run.get("fetched") is not None:
        parts.append(f"fetched {run['fetched']}, new {run.get('new')}, updated {run.get('updated')}")
    if run.get("reason"):
        parts.append(str(run["reason"]))
    if run.get("error"):
        parts.append(f"error: {run['error']}")
    return "; ".join(parts)


def _plain(value: Any) -> str:
    """A status value as one readable line (runs get their own format; other dicts become `key value; ...`)."""
    if isinstance(value, dict):
        if "status" in value and "started" in value:
            return _run_line(value)
        return "; ".join(f"{k.replace('_', ' ')} {_plain(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value) or "-"
    return "-" if value is None else str(value)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_app
def status_cmd(app: App, as_json: bool) -> None:
    """Papers stored, last successful poll and its window, last error, recent runs."""
    from lfmwatch.run.status import PIPELINE_KEYS, collect_status, describe_pipeline_status, describe_store

    info = collect_status(app.store, app.config)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    runs = info.get("runs") or []
    # The pipeline's keys have their own wording (status.describe_pipeline_status); the rest is generic.
    rows = [(k.replace("_", " "), _plain(v)) for k, v in info.items()
            if k not in ("runs", "store") and k not in PIPELINE_KEYS]
    rows += describe_pipeline_status(info)
    rows.append(("store", describe_store(info["store"])))
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        # Values carry remote text (arXiv/GitHub error messages, queries like [A TO B]): shown, never markup.
        table = Table(show_header=False, box=None)
        for k, v in rows:
            table.add_row(f"[bold]{escape(k)}[/bold]", escape(v))
        console = Console()
        console.print(table)
        if runs:
            rt = Table("id", "kind", "status", "started", "fetched", "new", "updated", "note", title="recent runs")
            for r in runs:
                rt.add_row(*(escape(_plain(r.get(c))) for c in ("id", "kind", "status", "started", "fetched", "new",
                                                                "updated")), escape(_plain(r.get("error") or r.get("reason"))))
            console.print(rt)
        return
    for k, v in rows:
        click.echo(f"{k}: {v}")
    for r in runs:
        kind = str(r.get("kind") or "run")
        click.echo(f"{'run' if kind == 'run' else kind + ' run'}: {_run_line(r)}")


@click.command("compact")
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; change nothing.")
@pass_app
def compact_cmd(app: App, dry_run: bool) -> None:
    """Apply the store's retention: drop the bulk of the stream no longer needed, then VACUUM (see README)."""
    from lfmwatch.run.status import describe_compaction
    from lfmwatch.store.retention import RetentionPolicy, compact

    with app.store.lock("run"):  # not while a run is writing
        report = compact(app.store, RetentionPolicy.from_config(app.config), dry_run=dry_run)
    click.echo(describe_compaction(report))


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    for command in (poll_cmd, import_cmd, search_cmd, status_cmd, compact_cmd):
        group.add_command(command)
