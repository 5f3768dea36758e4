"""`lfmwatch train`, `evaluate` and `classify` end to end on tiny generated files (and the arXiv emulator)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from click.testing import CliRunner

from lfmwatch.cli import cli
from test_model import NEG_TOPICS, SECTIONS, _text

README = """# Learn From Model
## Table of Contents
- [Model Reuse](#model-reuse)
## Papers
## Model Reuse
### Model Fusion
#### Weight Interpolation
- [[arXiv](https://arxiv.org/abs/2203.05482)] Model soups: averaging weights
## Model Editing
### Memory Based Model Editing
- [[arXiv](https://arxiv.org/abs/2206.06520)] Memory-based model editing at scale
### Parameter Based Model Editing
#### Locate And Edit
#### Constrained Tuning
## Citation
"""


def _write_inputs(tmp: Path) -> dict[str, Path]:
    rng = random.Random(1)
    labels, corpus = [], []
    for s, (section, topic) in enumerate(SECTIONS.items()):
        for i in range(15):
            labels.append({"id": f"2401.{s}{i:04d}", "section": section, "title": _text(rng, topic, 8),
                           "abstract": _text(rng, topic) if i % 5 else None, "precision": "leaf"})
            if not i % 5:  # abstract only in the corpus: training must find it there
                corpus.append({"id": f"2401.{s}{i:04d}", "title": labels[-1]["title"], "abstract": _text(rng, topic),
                               "categories": ["cs.LG"], "listed": "2024-02-01"})
    for i in range(150):
        t = NEG_TOPICS[i % len(NEG_TOPICS)]
        corpus.append({"id": f"2402.{i:05d}", "title": _text(rng, t, 8), "abstract": _text(rng, t),
                       "categories": ["cs.CV" if i % 2 else "cs.LG"], "listed": "2024-02-02"})
    corpus.append({"id": "2203.05482", "title": "Model soups: averaging weights",
                   "abstract": _text(rng, list(SECTIONS.values())[0]), "categories": ["cs.LG"], "listed": "2022-03-10"})
    paths = {"readme": tmp / "README.md", "labels": tmp / "labels.jsonl", "corpus": tmp / "corpus.jsonl"}
    paths["readme"].write_text(README)
    paths["labels"].write_text("".join(json.dumps(r) + "\n" for r in labels))
    paths["corpus"].write_text("".join(json.dumps(r) + "\n" for r in corpus))
    return paths


def test_train_then_classify_file(tmp_path: Path) -> None:
    p = _write_inputs(tmp_path)
    runner = CliRunner()
    out = tmp_path / "models" / "m.npz"
    res = runner.invoke(cli, ["train", "--readme", str(p["readme"]), "--labels", str(p["labels"]),
                              "--corpus", str(p["corpus"]), "--no-fetch", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and out.exists()
    card = json.loads((tmp_path / "models" / "m.card.json").read_text())
    assert card["command"].startswith("lfmwatch train --readme")
    assert card["data"]["examples_by_kind"]["list"] == 2
    assert card["text_sources"]["title_only"] == 1  # the README entry 2206.06520 has no text anywhere
    assert "Model Editing > Parameter Based Model Editing > Constrained Tuning" in card["unpredictable_sections"]
    assert not (tmp_path / "state.db").exists()  # training from files does not create a store

    rng = random.Random(9)
    src = tmp_path / "new.jsonl"
    rows = [{"id": f"2509.{i:05d}", "title": _text(rng, t, 8), "abstract": _text(rng, t)}
            for i, t in enumerate([*SECTIONS.values(), NEG_TOPICS[1]])]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows) + "oops\n")
    dst = tmp_path / "pred.jsonl"
    res = runner.invoke(cli, ["classify", "--input", str(src), "--output", str(dst), "--model", str(out)])
    assert res.exit_code == 0, res.output
    assert ":5: skipped: not JSON" in res.output
    preds = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [r["section"] for r in preds[:3]] == list(SECTIONS)
    assert [r["relevant"] for r in preds] == [True, True, True, False]


def test_classify_without_model_says_how_to_train(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["classify", "--model", str(tmp_path / "none.npz")])
    assert res.exit_code == 1
    assert "lfmwatch train" in res.output


def test_classify_output_without_input_is_a_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["classify", "--output", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 2 and "--output needs --input" in res.output
    assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "state.db").exists()


def test_evaluate_prints_report(tmp_path: Path) -> None:
    p = _write_inputs(tmp_path)
    res = CliRunner().invoke(cli, ["evaluate", "--labels", str(p["labels"]), "--corpus", str(p["corpus"]),
                                   "--no-fetch", "--folds", "3"])
    assert res.exit_code == 0, res.output
    assert "top-level accuracy" in res.output and "calibration bin" in res.output
    assert "Model Editing > Memory Based Model Editing" in res.output


def test_missing_abstracts_fetched_from_arxiv(tmp_path: Path, monkeypatch) -> None:
    from fakes.arxiv_emulator import ArxivEmulator
    from lfmwatch.config import Config
    from lfmwatch.model.readers import collect_examples

    labels = tmp_path / "l.jsonl"
    labels.write_text(json.dumps({"id": "2501.00001", "section": "Model Editing > Memory Based Model Editing",
                                  "title": "Editing memories", "abstract": None}) + "\n")
    with ArxivEmulator() as emu:
        emu.add_papers([{"id": "2501.00001", "title": "Editing memories", "abstract": "We edit facts in memory.",
                         "categories": ["cs.CL"], "published": "2025-01-01"}])
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", emu.url)
        config = Config()
        config.arxiv.delay_seconds = 0
        examples, info = collect_examples(config, labels=[labels])
    assert info["text"]["fetched"] == 1
    assert examples[0].abstract == "We edit facts in memory."
    assert any("id_list" in r["params"] for r in emu.requests)
