"""Commands about the list and the configuration: `init`, `sections`."""

from __future__ import annotations

from pathlib import Path

import click

from lfmwatch.cli import App, pass_app
from lfmwatch.errors import ConfigError


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


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    group.add_command(init_cmd)
