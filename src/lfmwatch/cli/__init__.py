"""Command line: parses arguments, builds adapters, calls library functions; no SQL, HTTP or Markdown here."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from lfmwatch import __version__
from lfmwatch.cli.app import App
from lfmwatch.errors import LfmwatchError


class LfmwatchGroup(click.Group):
    """A click group that turns LfmwatchError into a clean message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LfmwatchError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except sqlite3.DatabaseError as exc:  # disk full, damaged pages: the machine's problem, said so
            from lfmwatch.store.db import environment_error

            click.echo(f"error: {environment_error(exc)}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=LfmwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lfmwatch")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Configuration file (default: ./lfmwatch.toml when present).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages to stderr.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """lfmwatch watches arXiv for papers that belong in the Learn-from-Model awesome list,
    files them into the list's own sections and proposes them in one rolling pull request."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # -v is lfmwatch's own debug log; third-party libraries say at most INFO (httpx's one line per request, with
    # its URL redacted by _redact_logs), never their DEBUG chatter (markdown-it's per-rule lines); WARNING without -v.
    logging.getLogger("lfmwatch").setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("urllib3", "github", "httpx", "httpcore", "openai", "arxiv", "apscheduler", "markdown_it",
                  "requests", "charset_normalizer", "asyncio", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
    _redact_logs()
    app = App(config_path=config_path)
    ctx.obj = app
    ctx.call_on_close(app.close)


class _Redact(logging.Filter):
    """Masks secrets in every log line: tokens and keys from the environment, URL credentials and key= params
    (under -v, HTTP libraries log request URLs, and OPENAI_BASE_URL may carry a key)."""

    NAMES = ("OPENAI_API_KEY", "GITHUB_TOKEN", "LFMWATCH_SMTP_PASSWORD")

    def filter(self, record: logging.LogRecord) -> bool:
        from urllib.parse import urlsplit

        from lfmwatch.textsafe import redact

        secrets = [os.environ.get(n, "") for n in self.NAMES]
        base = urlsplit(os.environ.get("OPENAI_BASE_URL", ""))
        secrets += [base.password or "", base.query]
        message = redact(record.getMessage(), tuple(secrets))
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, tuple(secrets))
        return True


def _redact_logs() -> None:
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _Redact) for f in handler.filters):
            handler.addFilter(_Redact())


def _register() -> None:
    # Each module adds its own commands; importing them is cheap (heavy imports live inside the commands).
    from lfmwatch.cli import (
        backtest_cmds,
        digest_cmds,
        ingest_cmds,
        list_cmds,
        model_cmds,
        pr_cmds,
        run_cmds,
    )

    for module in (list_cmds, ingest_cmds, model_cmds, backtest_cmds, pr_cmds, digest_cmds, run_cmds):
        module.register(cli)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="lfmwatch")
