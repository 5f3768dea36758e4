"""Commands `summarize` and `digest`: parse arguments, build adapters, call the library; nothing else here."""

from __future__ import annotations

from pathlib import Path

import click

from lfmwatch.cli.app import App, pass_app


def _split_ids(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for v in values for part in v.replace(",", " ").split() if part.strip()]


@click.command("summarize")
@click.option("--ids", "ids", multiple=True, metavar="ID[,ID...]",
              help="Papers to summarize (default: selected/proposed papers without a summary).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Summarize at most N papers.")
@pass_app
def summarize_cmd(app: App, ids: tuple[str, ...], limit: int | None) -> None:
    """One-line LLM summaries for papers that will be shown (only when summaries.enabled)."""
    from lfmwatch.adapters.llm import pending_summary_ids, summarize_papers

    config = app.config
    if not config.summaries.enabled:
        click.echo("summaries are off (set summaries.enabled = true in lfmwatch.toml); nothing to do")
        return
    wanted = _split_ids(ids) if ids else pending_summary_ids(app.store, config)
    if limit is not None:
        wanted = wanted[:limit]
    if not wanted:
        click.echo("nothing to summarize: every selected or proposed paper already has a summary")
        return
    result = summarize_papers(app.store, config, wanted)
    click.echo(result.line())
    for line in result.errors[:10]:
        click.echo(f"  {line}", err=True)


def _week(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from lfmwatch.digest.content import parse_week

    try:
        return parse_week(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("digest")
@click.option("--week", default=None, metavar="YYYY-Www", callback=_week,
              help="ISO week (default: the last complete week).")
@click.option("--dry-run", is_flag=True, help="Write the files (to --out or the current directory), send nothing.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write digest-<week>.eml/.html/.txt into DIR instead of sending.")
@pass_app
def digest_cmd(app: App, week: str | None, dry_run: bool, out_dir: Path | None) -> None:
    """Build the weekly digest and e-mail it (idempotent: a week is sent once)."""
    from lfmwatch.run.weekly import run_digest

    result = run_digest(app.store, app.config, week=week, dry_run=dry_run, out_dir=out_dir)
    click.echo(result.line())
    for path in result.files:
        click.echo(f"  wrote {path}")


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    group.add_command(summarize_cmd)
    group.add_command(digest_cmd)
