"""Pull-request commands: `propose`, `sync`, `ignore`, `unignore` (argument parsing and output only)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lfmwatch.cli.app import App, pass_app
from lfmwatch.errors import InputError
from lfmwatch.ids import paper_key

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lfmwatch.store.db import Store


@contextmanager
def _store(app: App, dry_run: bool) -> Iterator[Store]:
    # A dry run works on a throw-away copy so that not even state.db changes.
    if not dry_run:
        yield app.store
        return
    from lfmwatch.store.db import dry_run_store

    with dry_run_store(app.config.db_path) as store:
        yield store


def _session(app: App) -> Any:
    from lfmwatch.adapters.github import GitHubSettings, connect

    return connect(GitHubSettings.from_config(app.config))


@click.command("propose")
@click.option("--dry-run", is_flag=True, help="Print the diff and the PR body; change nothing anywhere.")
@click.option("--readme", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Edit this local copy of the list instead of GitHub.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --readme: where to write the edited list (default: edit --readme in place).")
@click.option("--body", "body", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --readme: where to write the pull request body (Markdown).")
@click.option("--record", is_flag=True,
              help="With --readme: record the papers as proposed, so the GitHub mode will not propose them.")
@pass_app
def propose_cmd(app: App, dry_run: bool, readme: Path | None, out: Path | None, body: Path | None,
                record: bool) -> None:
    """Open or update the bot's pull request; with --readme, edit a local file instead of GitHub."""
    from lfmwatch.pr import propose

    if readme is None and (out or body or record):
        raise click.UsageError("--out, --body and --record need --readme")
    with _store(app, dry_run) as store:
        if readme is not None:
            if not readme.exists():
                raise InputError(f"{readme}: no such file", "pass the path of a copy of the list's README")
            result = propose.propose_local(store, app.config, readme, out, body, dry_run=dry_run, record=record)
        else:
            session = _session(app)
            try:
                result = propose.propose(store, app.config, session, dry_run=dry_run)
            finally:
                session.close()
    if dry_run and result.status != "nothing":
        click.echo(result.diff, nl=False)
        click.echo("\n----- pull request body -----")
        click.echo(result.body)
    click.echo(result.line())


@click.command("sync")
@click.option("--dry-run", is_flag=True, help="Report outcomes without recording them.")
@pass_app
def sync_cmd(app: App, dry_run: bool) -> None:
    """Read the outcome of the bot's pull requests into feedback labels."""
    from lfmwatch.pr import sync
    with _store(app, dry_run) as store:
        session = _session(app)
        try:
            result = sync.sync(store, app.config, session, dry_run=dry_run)
        finally:
            session.close()
    for line in result.details():
        click.echo(line)
    for p in result.pending:
        if p["removed"] or p["moved"]:
            click.echo(f"PR #{p['number']} (open): removed so far {len(p['removed'])}, moved {len(p['moved'])}")
    for err in result.errors:
        click.echo(f"warning: {err}", err=True)
    click.echo(result.line())


def _require_arxiv_id(text: str) -> None:
    """A usage error (exit 2) unless `text` is an arXiv id or abs URL: nothing else may reach the store."""
    from lfmwatch.ids import normalize_arxiv_id

    if normalize_arxiv_id(text) is None:
        raise click.BadParameter(f"{text[:60]!r} is not an arXiv id (e.g. 2401.01234 or an arxiv.org/abs URL)",
                                 param_hint="PAPER_ID")


@click.command("ignore")
@click.argument("paper_id")
@pass_app
def ignore_cmd(app: App, paper_id: str) -> None:
    """Never propose this arXiv paper (until `lfmwatch unignore ID`)."""
    from lfmwatch.store.ledger import ignore_paper

    _require_arxiv_id(paper_id)
    ignore_paper(app.store, paper_key(paper_id))
    click.echo(f"ignored {paper_key(paper_id)}: it will not be proposed")


@click.command("unignore")
@click.argument("paper_id")
@pass_app
def unignore_cmd(app: App, paper_id: str) -> None:
    """Allow a rejected or ignored paper to be proposed again."""
    from lfmwatch.store.ledger import unignore_paper

    _require_arxiv_id(paper_id)

    pid = paper_key(paper_id)
    if unignore_paper(app.store, pid):
        click.echo(f"unignored {pid}: it may be proposed again")
    else:
        click.echo(f"{pid} was neither rejected nor ignored: nothing to do")




def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    for cmd in (propose_cmd, sync_cmd, ignore_cmd, unignore_cmd):
        group.add_command(cmd)
