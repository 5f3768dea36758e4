"""`lfmwatch backtest`: replay a corpus day by day through classify -> select and report how good the bot is."""

from __future__ import annotations

from pathlib import Path

import click

from lfmwatch.cli.app import App, pass_app


@click.command("backtest")
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="JSONL(.gz) corpus of papers with `listed` (or `published`) days.")
@click.option("--from", "start", required=True, metavar="DATE", help="First replayed day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, metavar="DATE", help="Last replayed day (YYYY-MM-DD).")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Label JSONL (id, section, precision): enables recall, precision and section accuracy.")
@click.option("--per-day", type=click.IntRange(min=1), default=10, show_default=True,
              help="Papers proposed per day at most (the daily budget K).")
@click.option("--train-until", metavar="DATE", default=None,
              help="Train the model on labels and corpus papers known by this day (default: use the configured model).")
@click.option("--review", "review_every", type=click.IntRange(min=0), default=0, metavar="K",
              help="Simulate a reviewer every K days who feeds decisions back and retrains (slow: one fit per review).")
@click.option("--readme", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The list's README: proposals are deduped against it; its entries train the model and the tf-idf baseline.")
@click.option("--reviewed", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Reviewed papers JSONL (id, include, section): training data up to --train-until; verdicts on replayed "
                   "papers sharpen the precision estimate.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model file when --train-until is not given (default: model.path of the configuration).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write report.md, metrics.json and PNG plots into this directory.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the training runs and samples.")
@pass_app
def backtest(app: App, corpus: Path, start: str, end: str, labels: Path | None, per_day: int,
             train_until: str | None, review_every: int, readme: Path | None, reviewed: Path | None,
             model_path: Path | None,
             report_dir: Path | None, seed: int) -> None:
    """Replay history day by day through the real classify -> select path and compare with two baselines."""
    from lfmwatch.backtest.baselines import backtest_from_files
    from lfmwatch.backtest.report import headline_table, write_report

    result = backtest_from_files(
        app.config, corpus=corpus, start=start, end=end, labels=labels, per_day=per_day, train_until=train_until,
        review_every=review_every, readme=readme, reviewed=reviewed, model_path=model_path, seed=seed,
        log=lambda line: click.echo(line, err=True),
    )
    click.echo(headline_table(result))
    if report_dir is not None:
        written = write_report(result, report_dir)
        click.echo(f"report: {written[0]} ({len(written) - 1} more files in {report_dir})")


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    group.add_command(backtest)
