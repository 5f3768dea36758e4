"""Invoke the lfmwatch CLI in-process the way the command-line tests want it."""

from __future__ import annotations

from click.testing import CliRunner

from lfmwatch.cli import cli


def run(*args: str) -> tuple[int, str]:
    """Run `lfmwatch *args`: (exit code, output); an exception other than SystemExit is raised, not swallowed."""
    res = CliRunner().invoke(cli, list(args))
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output
