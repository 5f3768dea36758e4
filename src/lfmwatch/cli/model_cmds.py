"""Commands of the classifier: `train`, `evaluate`, `classify`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lfmwatch.cli.app import App, pass_app

if TYPE_CHECKING:
    from lfmwatch.config import Config

_path = click.Path(dir_okay=False, path_type=Path)
_existing = click.Path(dir_okay=False, exists=True, path_type=Path)


def _data_options(fn):
    """Options shared by train and evaluate: where the training data comes from."""
    options = [
        click.option("--readme", type=_existing, default=None, help="The list's README: its entries are positives."),
        click.option("--labels", "labels", type=_existing, multiple=True, help="Label JSONL (id, section, ...); repeatable."),
        click.option("--reviewed", type=_existing, default=None, help="Reviewed JSONL (id, include, section)."),
        click.option("--corpus", type=_existing, default=None,
                     help="Papers JSONL(.gz): negatives and texts (default: the store's papers)."),
        click.option("--texts", "texts", type=_existing, multiple=True,
                     help="Extra papers JSONL with title/abstract for labelled ids (e.g. the list's own abstracts)."),
        click.option("--no-fetch", is_flag=True, help="Do not ask the arXiv API for missing abstracts (titles only)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _collect(app: App, readme: Path | None, labels: tuple[Path, ...], reviewed: Path | None, corpus: Path | None,
             texts: tuple[Path, ...], no_fetch: bool) -> tuple[list, dict]:
    from lfmwatch.model.fit import FitOptions
    from lfmwatch.model.readers import collect_examples, iter_corpus

    config = app.config
    # The store gives review feedback (and negatives without --corpus); do not create one just to read nothing.
    store = app.store if (corpus is None or config.db_path.exists()) else None
    extra: dict[str, dict] = {}
    for path in texts:
        for paper in iter_corpus(path):
            if paper.get("abstract"):
                extra.setdefault(str(paper["id"]), paper)
    bundle = Path(config.model.bundle)
    if bundle.is_file():
        # The committed bundle knows the abstracts of the list's papers, labels and reviews: entries it knows
        # do not fall back to their titles.
        from lfmwatch.model.bundle import read_bundle

        for pid, text in read_bundle(bundle).texts.items():
            extra.setdefault(pid, {"id": pid, **text})
    examples, info = collect_examples(
        config, store=store, readme=readme, labels=labels, reviewed=reviewed, corpus=corpus,
        fetch_missing=not no_fetch, known_texts=extra, max_unlabelled=FitOptions().max_unlabelled,
    )
    if readme is not None:
        info["sources"]["readme"]["without_abstract"] = sum(1 for e in examples if e.kind == "list" and not e.abstract)
    return examples, info


def _command_line(name: str, params: dict) -> str:
    """The command as a user would type it (for the model card), rebuilt from the parsed options."""
    words = ["lfmwatch", name]
    for key, value in params.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False or value == ():
            continue
        if value is True:
            words.append(flag)
        else:
            for v in value if isinstance(value, tuple) else (value,):
                words += [flag, shlex.quote(str(v))]
    return " ".join(words)


@click.command("train")
@_data_options
@click.option("--out", type=_path, default=None, help="Model file to write (default: model.path).")
@click.option("--force", is_flag=True, help="Install the retrained model even when the quality gate refuses it.")
@click.option("--dry-run", is_flag=True, help="Retrain and gate, print the verdict; write no model and no record.")
@pass_app
def train_cmd(app: App, readme: Path | None, labels: tuple[Path, ...], reviewed: Path | None, corpus: Path | None,
              texts: tuple[Path, ...], no_fetch: bool, out: Path | None, force: bool, dry_run: bool) -> None:
    """Fit the model and write it with its card.

    Without data arguments (deployment): from the list's README on GitHub, the feedback in state.db, the newest
    stored papers and the bundle beside the model; the new model replaces the current one only when the quality
    gate accepts it (--force overrides). With data arguments (development): from those files, written directly.
    """
    from lfmwatch.model.fit import fit_model
    from lfmwatch.model.io import card_path, save_model

    command = _command_line("train", click.get_current_context().params)
    if readme is None and not labels and reviewed is None and corpus is None and not texts:
        _retrain(app, out, no_fetch=no_fetch, force=force, dry_run=dry_run, command=command)
        return
    examples, info = _collect(app, readme, labels, reviewed, corpus, texts, no_fetch)
    model = fit_model(
        examples, sections=info.get("sections", []), target_precision=app.config.model.target_precision,
        command=command, extra_card={"sources": info.get("sources", {}), "text_sources": info.get("text", {}),
                    "unlabelled_seen": info.get("unlabelled_seen")},
        unlabelled_seen=info.get("unlabelled_seen"),
    )
    _record_oof_sections(model, examples)
    d = model.card["data"]
    rd = (info.get("sources") or {}).get("readme")
    if rd:
        click.echo(f"README: {rd['entries']} entries with an arXiv id, {rd['without_abstract']} without an abstract "
                   "(trained on their titles)")
    if dry_run:
        click.echo(f"dry run: would write {out or _train_out(app.config)} (threshold {model.threshold:.3f}, "
                   f"{d['positives']} positive papers)")
        return
    path = save_model(model, out or _train_out(app.config))
    click.echo(
        f"wrote {path} (version {model.version}, card {card_path(path)}): {d['positives']} positive and "
        f"{d['negatives_used']} negative papers, threshold {model.threshold:.3f} ({model.card.get('threshold_rule')}), "
        f"{len(model.card['unpredictable_sections'])} unpredictable sections"
    )


def _record_oof_sections(model: Any, examples: list) -> None:
    """Add the judged includes' out-of-fold sections to the card's record, for the next retrain's quality gate."""
    from lfmwatch.model.gate import judged_truth, oof_sections

    rec = model.card.get("oof_judged")
    if not rec:
        return
    truth = judged_truth(examples)
    texts = {e.id: {"id": e.id, "title": e.title, "abstract": e.abstract} for e in examples if e.id in truth}
    sections = oof_sections(model, examples, [i for i in rec["ids"] if truth.get(i, (False,))[0] and i in texts],
                            texts)
    rec["section"] = [sections.get(i) for i in rec["ids"]]


def _retrain(app: App, out: Path | None, *, no_fetch: bool, force: bool, dry_run: bool, command: str) -> None:
    """The gated retrain of `lfmwatch train` without data arguments."""
    from lfmwatch.run.retrain import run_retrain

    outcome = run_retrain(app.store, app.config, out=out, force=force, dry_run=dry_run, fetch_missing=not no_fetch,
                          command=command, echo=click.echo)
    click.echo(("dry run: " if dry_run else "") + outcome.line())
    if outcome.path is not None:
        click.echo(f"wrote {outcome.path} (version {outcome.summary['challenger_version']})")


@click.command("bundle")
@click.option("--data", "data", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=Path("../shared/data"), show_default=True, help="The shared data directory.")
@click.option("--out", type=_path, default=None, help="Bundle to write (default: model.bundle).")
@click.option("--unlabelled", type=click.IntRange(0, 100000), default=None,
              help="Unlabelled corpus papers to sample (default 6000).")
@click.option("--dry-run", is_flag=True, help="Build and print the counts; write nothing.")
@pass_app
def bundle_cmd(app: App, data: Path, out: Path | None, unlabelled: int | None, dry_run: bool) -> None:
    """Build the compact training bundle that `lfmwatch train` (no data arguments) reads beside the model."""
    from lfmwatch.model.bundle import DEFAULT_UNLABELLED, build_bundle, write_bundle

    n = DEFAULT_UNLABELLED if unlabelled is None else unlabelled
    rows, card = build_bundle(data, app.config.arxiv.categories, unlabelled=n)
    counts = ", ".join(f"{v} {k}" for k, v in card["counts"].items())
    if dry_run:
        click.echo(f"dry run: bundle of {counts}; nothing written")
        return
    target = out or Path(app.config.model.bundle)
    full = write_bundle(rows, card, target, _command_line("bundle", click.get_current_context().params))
    click.echo(f"wrote {target} ({full['bytes'] / 1e6:.2f} MB, sha256 {full['sha256'][:16]}): {counts}")


def _train_out(config: Config) -> Path:
    """Where `train` writes without --out: model.path, except never over the packaged model (models/ instead)."""
    from lfmwatch.run.retrain import train_out

    return train_out(config)


@click.command("evaluate")
@_data_options
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@pass_app
def evaluate_cmd(app: App, readme: Path | None, labels: tuple[Path, ...], reviewed: Path | None, corpus: Path | None,
                 texts: tuple[Path, ...], no_fetch: bool, folds: int, as_json: bool) -> None:
    """Cross-validated report: per-section precision/recall, confusion between sections, calibration."""
    from lfmwatch.model.evaluate import evaluate_examples

    examples, _ = _collect(app, readme, labels, reviewed, corpus, texts, no_fetch)
    report = evaluate_examples(examples, folds=folds, target_precision=app.config.model.target_precision)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    s = report["sections"]
    click.echo(f"sections ({folds}-fold): top-level accuracy {s['top_level_accuracy']:.3f} over {s['n_top']} papers, "
               f"leaf accuracy {s['leaf_accuracy']:.3f} over {s['n_leaf']}")
    click.echo(f"{'section':70} {'prec':>6} {'recall':>6} {'n':>5}")
    fmt = lambda v: "   -  " if v is None else f"{v:6.2f}"  # noqa: E731
    for name, m in s["per_section"].items():
        click.echo(f"{name[:70]:70} {fmt(m['precision'])} {fmt(m['recall'])} {m['support']:5d}")
    if s["confusion"]:
        click.echo("most confused (true -> predicted: papers):")
        for t, p, n in s["confusion"]:
            click.echo(f"  {t} -> {p}: {n}")
    r = report.get("relevance")
    if r:
        click.echo(f"relevance: {r['positives']} positive, {r['negatives']} negative papers; calibration check with the"
                   f" assumed-base-rate rule (the fallback; `train` records the rule it used in the card): threshold"
                   f" {r['threshold']:.3f} -> precision {r['at_threshold']['precision']:.3f}, recall"
                   f" {r['at_threshold']['recall']:.3f}")
        click.echo(f"{'calibration bin':16} {'papers':>7} {'pos':>5} {'predicted':>9} {'observed':>9}")
        for row in r["calibration"]:
            click.echo(f"{row['bin']:16} {row['papers']:7d} {row['positives']:5d} {row['mean_predicted']:9.4f} "
                       f"{row['observed']:9.4f}")


@click.command("classify")
@click.option("--input", "input_path", type=_path, default=None, help="Papers JSONL; without it, classify the store.")
@click.option("--output", "output_path", type=_path, default=None, help="Predictions JSONL (default: stdout).")
@click.option("--model", "model_path", type=_path, default=None, help="Model file (default: model.path).")
@pass_app
def classify_cmd(app: App, input_path: Path | None, output_path: Path | None, model_path: Path | None) -> None:
    """Classify the store's unclassified papers, or a JSONL file with --input (the store is not touched)."""
    from lfmwatch.model.io import load_model
    from lfmwatch.run.classify import classify_jsonl, classify_store

    if output_path is not None and input_path is None:
        raise click.UsageError("--output needs --input (without --input, classify writes to the store)")
    config = app.config
    model = load_model(model_path or Path(config.model.path))
    threshold = config.model.threshold if config.model.threshold >= 0 else None
    if input_path is not None:
        written, bad = classify_jsonl(model, input_path, output_path, threshold=threshold)
        for line, problem in bad[:20]:
            click.echo(f"{input_path}:{line}: skipped: {problem}", err=True)
        if len(bad) > 20:
            click.echo(f"... and {len(bad) - 20} more skipped lines", err=True)
        click.echo(f"classified {written} papers ({len(bad)} lines skipped) with model {model.version}", err=True)
        return
    counts = classify_store(app.store, model, threshold=threshold)
    if counts["classified"] == 0:
        click.echo(f"nothing new to classify: every paper has a prediction of model {model.version}")
    else:
        click.echo(f"classified {counts['classified']} papers, {counts['relevant']} relevant (model {model.version})")


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    group.add_command(train_cmd)
    group.add_command(bundle_cmd)
    group.add_command(evaluate_cmd)
    group.add_command(classify_cmd)
