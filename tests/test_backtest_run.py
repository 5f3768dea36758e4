"""A tiny end-to-end backtest: synthetic corpus and labels, a model trained in the test, report and CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lfmwatch.backtest import baselines as bl
from lfmwatch.backtest import replay as bt
from lfmwatch.backtest.runner import BacktestResult
from lfmwatch.cli import cli
from lfmwatch.config import Config

LIST_REPO = Config().target.repo
TOPICS = {
    "Model Reuse > Model Fusion > Weight Interpolation": (
        "model merging", "weight interpolation", "task arithmetic", "merged checkpoints", "model soups"),
    "Model Distillation > Generative Reconstruction": (
        "knowledge distillation", "teacher student", "distilled student", "soft labels", "logit matching"),
    "Model Tuning > Weight Enginerring > Adapter Tuning": (
        "adapter tuning", "low rank adaptation", "lora adapters", "parameter efficient", "frozen backbone"),
}
NOISE = ("protein folding", "robot navigation", "galaxy redshift", "traffic forecasting", "speech accents",
         "medical segmentation", "weather nowcasting", "graph coloring", "crop yield", "music generation",
         "image denoising", "question answering", "object detection", "time series", "point clouds")


def _text(rng: random.Random, words: tuple[str, ...]) -> str:
    return " ".join(rng.choice(words) for _ in range(12))


def make_data(tmp: Path, seed: int = 7) -> tuple[Path, Path]:
    """A corpus of 4 training days and 6 replay days (40 papers a day) and its labels."""
    rng = random.Random(seed)
    papers, labels = [], []
    for d in range(10):
        day = f"2025-0{1 if d < 4 else 2}-{d + 1:02d}"
        for i in range(40):
            pid = f"25{d:02d}.{i:05d}"
            section = list(TOPICS)[i % 3] if i < 9 else None
            words = TOPICS[section] + NOISE[:3] if section else NOISE
            papers.append({"id": pid, "title": f"On {_text(rng, words)[:40]}", "abstract": _text(rng, words),
                           "categories": ["cs.LG"] if i % 7 else ["math.AP"], "listed": day})
            if section and (i < 6 or d < 4):  # a few topical papers stay unlabelled (unlabelled positives)
                labels.append({"id": pid, "section": section, "precision": "leaf" if i % 2 else "top",
                               "listed": day, "source_list": LIST_REPO if d < 4 else "other/list",
                               "title": papers[-1]["title"], "abstract": papers[-1]["abstract"]})
    corpus, label_file = tmp / "corpus.jsonl", tmp / "labels.jsonl"
    corpus.write_text("\n".join(json.dumps(p) for p in papers) + "\n", encoding="utf-8")
    label_file.write_text("\n".join(json.dumps(r) for r in labels) + "\n", encoding="utf-8")
    return corpus, label_file


def run(tmp: Path, **kw: Any) -> BacktestResult:
    corpus, labels = make_data(tmp)
    args = {"corpus": corpus, "labels": labels, "start": "2025-02-05", "end": "2025-02-10", "per_day": 4,
            "train_until": "2025-01-31"}
    args.update(kw)
    return bl.backtest_from_files(Config(), **args)


def test_tiny_backtest_end_to_end_and_reproducible(tmp_path: Path) -> None:
    first = run(tmp_path)
    m = first.systems["lfmwatch"].metrics
    # 6 replay days x 6 labelled papers, minus the math.AP ones outside the configured categories.
    assert m.labelled == len(first.truth.period) == 30 and first.params["days"] == 6
    assert all(c <= 4 for c in m.counts)
    assert set(first.systems) == {"lfmwatch", "keywords", "tf-idf + LinearSVC"}
    assert m.recall > 0.5  # the topics are easy: a working pipeline finds most labelled papers
    again = run(tmp_path)
    assert again.numbers() == first.numbers()


def test_training_data_never_leaks_the_replayed_period(tmp_path: Path) -> None:
    corpus, labels = make_data(tmp_path)
    label_rows = bl.load_labels(labels)
    papers, _ = bl.load_corpus(corpus, ["cs.LG"])
    rows, counts = bl.model_examples(labels, label_rows, papers, "2025-01-31")
    assert rows and all(ex.id < "2504" for ex in rows)  # ids of replay days start at 2504
    assert counts["negative"] == sum(1 for p in papers if p["day"] <= "2025-01-31" and p["id"] not in label_rows)
    # The stream the threshold's PU estimate reads: training-period corpus papers (in the categories), labelled or not.
    stream = {ex.id for ex in rows if ex.stream}
    assert stream == {p["id"] for p in papers if p["day"] <= "2025-01-31"}
    reviewed = tmp_path / "reviewed.jsonl"
    reviewed.write_text(json.dumps({"id": "2501.00030", "include": False, "section": None}) + "\n"
                        + json.dumps({"id": "2505.00030", "include": False, "section": None}) + "\n", encoding="utf-8")
    rows2, counts2 = bl.model_examples(labels, label_rows, papers, "2025-01-31", reviewed_path=reviewed)
    assert [ex.id for ex in rows2 if ex.kind == "reviewed_neg"] == ["2501.00030"]
    assert counts2["negative"] == counts["negative"] - 1  # a reviewed paper is never also an unlabelled negative
    texts = {pid: {"title": r[0].title, "abstract": r[0].abstract} for pid, r in label_rows.items()}
    pos = bl.list_positives(label_rows, texts, "2025-01-31", LIST_REPO)
    assert pos and all(p["id"] < "2504" and p["abstract"] for p, _ in pos)


def test_review_simulation_retrains_and_reports(tmp_path: Path) -> None:
    result = run(tmp_path, review_every=3)
    rv = result.review
    assert rv is not None and len(rv["rounds"]) == 1 and rv["rounds"][0]["day"] == "2025-02-07"
    assert rv["metrics"]["system"] == "lfmwatch + review"
    assert len(rv["frozen"]) == len(rv["reviewed"]) == 2
    out = tmp_path / "report"
    from lfmwatch.backtest.report import write_report

    paths = write_report(result, out)
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "## Simulated review" in text and "lfmwatch + review" in text
    assert {p.name for p in paths} >= {"report.md", "metrics.json", "budget.png", "learning_curve.png"}


def test_report_files_and_comparison_sentences(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from lfmwatch.backtest.report import write_report

    result = run(tmp_path)
    paths = write_report(result, tmp_path / "out")
    for p in paths:
        assert p.exists() and p.stat().st_size > 0
    for png in (p for p in paths if p.suffix == ".png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = paths[0].read_text(encoding="utf-8")
    assert "| lfmwatch |" in text and "- vs keywords: ahead on" in text and "lfmwatch ahead by" in text
    assert "of the 6 recall/accuracy measures" in text and "labelled papers both proposed" in text
    pair = bt.paired_sections(result.systems["lfmwatch"].proposals, result.systems["keywords"].proposals, result.truth)
    both = ({p.id for p in result.systems["lfmwatch"].proposals} & {p.id for p in result.systems["keywords"].proposals}
            & set(result.truth.labels))
    assert pair["n"] == len(both) and pair["a_ok"] <= pair["n"] and pair["leaf_n"] <= pair["n"]
    assert f"| keywords | {pair['n']} |" in text
    numbers = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert numbers["systems"]["lfmwatch"]["recall"] == round(result.systems["lfmwatch"].metrics.recall, 4)


def test_cli_backtest_writes_the_report(tmp_path: Path) -> None:
    corpus, labels = make_data(tmp_path)
    reviewed = tmp_path / "reviewed.jsonl"
    reviewed.write_text(json.dumps({"id": "2506.00008", "include": True, "section": None}) + "\n", encoding="utf-8")
    res = CliRunner().invoke(cli, [
        "backtest", "--corpus", str(corpus), "--labels", str(labels), "--from", "2025-02-05", "--to", "2025-02-10",
        "--per-day", "3", "--train-until", "2025-01-31", "--reviewed", str(reviewed), "--report", str(tmp_path / "rep"),
    ])
    assert res.exit_code == 0, res.output
    assert "| lfmwatch |" in res.output
    text = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "Held-out reviewer verdicts (1 papers" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-02-10", "--to", "2025-02-05"], "is after --to"),
        (["--from", "2025-02-05", "--to", "2025-02-10", "--train-until", "2025-02-05"], "not before --from"),
        (["--from", "2025-13-01", "--to", "2025-02-10"], "not a date"),
        (["--from", "2024-01-01", "--to", "2024-01-05", "--train-until", "2023-12-31"], "no paper"),
    ],
)
def test_cli_errors_say_how_to_recover(tmp_path: Path, args: list[str], message: str) -> None:
    corpus, labels = make_data(tmp_path)
    res = CliRunner().invoke(cli, ["backtest", "--corpus", str(corpus), "--labels", str(labels), *args])
    assert res.exit_code == 1 and message in res.output


def test_shared_corpus_period_size(shared_data: Path) -> None:
    papers, bad = bl.load_corpus(shared_data / "arxiv-corpus.jsonl.gz", Config().arxiv.categories, "2025-09-30")
    days = bt.split_days(papers, "2025-04-01", "2025-09-30")
    assert bad == 0 and len(days) == 177 and sum(len(p) for _, p in days) == 47579


def test_configured_model_without_labels(tmp_path: Path) -> None:
    from lfmwatch.backtest.report import write_report
    from lfmwatch.model.fit import fit_model
    from lfmwatch.model.io import save_model

    corpus, labels = make_data(tmp_path)
    papers, _ = bl.load_corpus(corpus, ["cs.LG"])
    rows, _ = bl.model_examples(labels, bl.load_labels(labels), papers, "2025-01-31")
    model_file = save_model(fit_model(rows), tmp_path / "models" / "m.npz")
    result = bl.backtest_from_files(Config(), corpus=corpus, start="2025-02-05", end="2025-02-10", per_day=2,
                                    model_path=model_file)
    m = result.systems["lfmwatch"].metrics
    assert m.labelled == 0 and m.proposed == sum(m.counts) > 0 and max(m.counts) <= 2
    assert "tf-idf + LinearSVC" not in result.systems  # no list entries without labels or a README
    paths = write_report(result, tmp_path / "out")
    assert [p.name for p in paths] == ["report.md", "metrics.json", "proposals_per_day.png"]
    assert "nothing to compare" in paths[0].read_text(encoding="utf-8")


def test_lfmwatch_replays_through_a_fresh_store_like_the_daily_run(tmp_path: Path) -> None:
    from lfmwatch.awesome import parse_list
    from lfmwatch.backtest.store_replay import replay_store
    from lfmwatch.model.fit import fit_model

    corpus, labels = make_data(tmp_path)
    config = Config()
    papers, _ = bl.load_corpus(corpus, config.arxiv.categories)
    days = bt.split_days(papers, "2025-02-05", "2025-02-10")
    rows, _ = bl.model_examples(labels, bl.load_labels(labels), papers, "2025-01-31")
    model = fit_model(rows)
    lst = parse_list(bt.sections_markdown(model.sections))
    pure = bt.select_days(days, bt.predict_days(model, days), bt.make_selector(lst), 4)
    # A generous budget: nothing waits for another day, so the store path equals the pure selection.
    wide, stored_cands, _ = replay_store(days, model, lst, config, 40, workdir=tmp_path)
    pure_cands = bt.predict_days(model, days)
    assert wide == bt.select_days(days, pure_cands, bt.make_selector(lst), 40)
    # The predictions read back from the store are the model's, field for field, in the day's order.
    fields = ("id", "title", "relevant", "score", "section", "section_score", "sections")
    assert [[{k: c[k] for k in fields} for c in day] for day in stored_cands] == \
        [[{k: c[k] for k in fields} for c in day] for day in pure_cands]
    stored, _, totals = replay_store(days, model, lst, config, 4, workdir=tmp_path)
    assert totals["stored"] == totals["classified"] == sum(len(p) for _, p in days)
    assert len({p.id for p in stored}) == len(stored)  # never proposed twice
    per_day: dict[str, int] = {}
    for p in stored:
        per_day[p.day] = per_day.get(p.day, 0) + 1
    assert max(per_day.values()) <= 4
    # With a budget of 4, relevant papers over the cap wait in the store and are proposed on a later day.
    assert totals["carried_over"] > 0 and len(stored) >= len(pure)
    assert totals["carried_over"] == sum(1 for p in stored if p.id not in {q["id"] for d, ps in days if d == p.day
                                                                             for q in ps})
    assert list(tmp_path.glob("lfmwatch-backtest-*")) == []  # the temporary store is gone
    result = run(tmp_path)
    assert result.params["store_replay"]["stored"] == sum(len(p) for _, p in days)
