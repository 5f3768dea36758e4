"""Where the model comes from: a relative model.path is relative to its config file; without one, models/ in the
working directory, else the model packaged with lfmwatch (pip install brings it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lfmwatch.config import PACKAGED_MODEL, load_config, packaged_model_path

ROOT = Path(__file__).resolve().parents[1]


def test_packaged_model_is_the_committed_one():
    path = packaged_model_path()
    assert path is not None and path.name == "lfm-model.npz"
    assert path.read_bytes() == (ROOT / "models" / "lfm-model.npz").read_bytes()
    assert (path.parent / "lfm-model.card.json").exists()


def test_no_models_dir_uses_the_packaged_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.model_origin == PACKAGED_MODEL
    assert Path(config.model.path) == packaged_model_path()


def test_models_dir_in_working_directory_wins(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "lfm-model.npz").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.model.path == "models/lfm-model.npz" and "working directory" in config.model_origin


def test_relative_model_path_is_relative_to_the_config_file(tmp_path, monkeypatch):
    conf_dir = tmp_path / "bot"
    conf_dir.mkdir()
    (conf_dir / "lfmwatch.toml").write_text('[model]\npath = "m/mine.npz"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(conf_dir / "lfmwatch.toml")
    assert Path(config.model.path) == conf_dir / "m" / "mine.npz"
    assert config.model_origin == f"model.path in {conf_dir / 'lfmwatch.toml'}"
    # Relative config path too: resolved against the file's directory, not the working directory.
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("bot/lfmwatch.toml"))
    assert Path(config.model.path) == Path("bot/m/mine.npz")
    # An absolute path stays as written.
    (conf_dir / "lfmwatch.toml").write_text(f'[model]\npath = "{tmp_path / "abs.npz"}"\n')
    assert load_config(conf_dir / "lfmwatch.toml").model.path == str(tmp_path / "abs.npz")


def test_classify_file_from_an_empty_directory_and_status_names_the_model(tmp_path, monkeypatch):
    from fakes.cli_run import run

    monkeypatch.chdir(tmp_path)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "2501.00001", "title": "Model merging by weight averaging of fine-tuned models",
                               "abstract": "We merge the weights of several fine-tuned checkpoints."}) + "\n")
    code, out = run("classify", "--input", str(src), "--output", "out.jsonl")
    assert code == 0, out
    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert row["id"] == "2501.00001" and 0.0 <= row["score"] <= 1.0 and row["sections"]
    monkeypatch.setenv("LFMWATCH_DB", str(tmp_path / "state.db"))
    code, out = run("status")
    assert code == 0, out
    assert PACKAGED_MODEL in out
    assert not os.path.exists(tmp_path / "models")
