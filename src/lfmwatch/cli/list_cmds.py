"""Commands about the list and the configuration: `init`, `sections`."""

from __future__ import annotations

from pathlib import Path

import click

from lfmwatch.cli.app import App, pass_app
from lfmwatch.errors import ConfigError, InputError


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option(
    "--path", "path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Where to write (default: --config or ./lfmwatch.toml).",
)
@pass_app
def init_cmd(app: App, force: bool, path: Path | None) -> None:
    """Write a commented lfmwatch.toml with every key at its default."""
    from lfmwatch.config import DEFAULT_CONFIG_NAME, render_default_config

    target = path or app.config_path or Path(DEFAULT_CONFIG_NAME)
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists", "pass --force to overwrite it")
    try:
        target.write_text(render_default_config(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    click.echo(f"wrote {target}")


def read_readme(path: Path) -> str:
    """The README text with its line endings untouched; InputError telling how to recover when unreadable."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file", "pass the path of the list's README with --readme") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path} is a directory", "pass the README file itself, e.g. --readme README.md") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc.reason})", "convert the file to UTF-8") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}", "check the path and its permissions") from exc


@click.command("sections")
@click.option(
    "--readme", "readme", type=click.Path(dir_okay=True, path_type=Path), required=True,
    help="The awesome list's README (Markdown).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {path, entries, level, line, excluded}.")
@pass_app
def sections_cmd(app: App, readme: Path, as_json: bool) -> None:
    """Print the list's sections with their entry counts and the duplicates already in it (the file is not changed)."""
    import json

    from lfmwatch.awesome import parse_list

    lst = parse_list(read_readme(readme), app.config.target.exclude_sections)
    rows = lst.summary()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        depth = row["path"].count(" > ")
        note = "  [excluded]" if row["excluded"] else ""
        click.echo(f"{'  ' * depth}{row['heading']}  ({row['entries']}){note}")
    total = sum(r["entries"] for r in rows)
    click.echo(f"{len(rows)} sections, {total} entries in sections, {len(lst.paper_sections())} paper sections")
    dups = lst.duplicate_summary()
    if not dups:
        click.echo("no duplicates")
        return
    click.echo(f"{len(dups)} duplicates already in the list (left as they are):")
    for dup in dups:
        where = "; ".join(f"line {e['line']} in {e['section']}" for e in dup["entries"])
        label = f"arXiv {dup['key']}" if dup["kind"] == "arxiv" else f"title {dup['entries'][0]['title']!r}"
        click.echo(f"  {label}: {where}")


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    group.add_command(init_cmd)
    group.add_command(sections_cmd)
