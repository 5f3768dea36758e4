"""Hostile input files: a 100k-deep JSON line is one bad line; a truncated .gz is a clear error with no output."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from lfmwatch.cli import cli
from lfmwatch.model.readers import read_jsonl
from lfmwatch.store.db import Store
from test_pipeline_e2e import tiny_model  # noqa: F401  (fixture)

DEEP = "[" * 100_000 + "]" * 100_000
GOOD = {"id": "2611.00011", "title": "Merging fine-tuned models by weight averaging",
        "abstract": "Model soups interpolate weights and merge fine-tuned models."}


def _corpus(path: Path) -> Path:
    path.write_text(DEEP + "\n" + json.dumps(GOOD) + "\n" + '{"a": ' * 100_000 + "\n", encoding="utf-8")
    return path


def _model(tmp_path: Path, tiny: Path) -> Path:
    shutil.copy(tiny, tmp_path / "m.npz")
    shutil.copy(tiny.with_name("tiny.card.json"), tmp_path / "m.card.json")
    return tmp_path / "m.npz"


def test_a_deeply_nested_line_is_one_bad_line_for_import(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["import", str(_corpus(tmp_path / "c.jsonl"))])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "Recursion" not in result.output
    with Store(tmp_path / "state.db") as store:
        assert [r[0] for r in store.db.execute("SELECT id FROM papers")] == ["2611.00011"]
    assert [obj is None for _, obj in read_jsonl(tmp_path / "c.jsonl")] == [True, False, True]


def test_a_deeply_nested_line_is_one_bad_line_for_classify(tmp_path: Path, tiny_model: Path) -> None:  # noqa: F811
    out = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(cli, ["classify", "--input", str(_corpus(tmp_path / "c.jsonl")), "--output", str(out),
                                      "--model", str(_model(tmp_path, tiny_model))])
    assert result.exit_code == 0, result.output
    assert [json.loads(ln)["id"] for ln in out.read_text().splitlines()] == ["2611.00011"]
    assert "nested too deeply" in result.output


def test_classify_of_a_truncated_gz_is_a_clear_error_and_writes_nothing(tmp_path: Path,
                                                                       tiny_model: Path) -> None:  # noqa: F811
    src = tmp_path / "c.jsonl.gz"
    data = gzip.compress(("\n".join(json.dumps({**GOOD, "id": f"2611.{i:05d}"}) for i in range(2000)) + "\n").encode())
    src.write_bytes(data[: len(data) // 2])
    out = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(cli, ["classify", "--input", str(src), "--output", str(out),
                                      "--model", str(_model(tmp_path, tiny_model))])
    assert result.exit_code == 1
    assert "truncated or damaged" in result.output and "Aborted" not in result.output
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
