"""`lfmwatch run` on real data: a store filled from the shared corpus, a real arXiv day served by the emulator
(re-dated to yesterday), the real LFM README on the GitHub fake, and the default model (or one trained on the
shared labels when the repository has none yet)."""

from __future__ import annotations

import difflib
import gzip
import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fakes.arxiv_emulator import ArxivEmulator
from fakes.github_fake import GitHubFake
from lfmwatch.cli import cli
from lfmwatch.store.db import Store

pytestmark = pytest.mark.shared

REPO = "owner/list"
TOKEN = "ghp_sharedtoken000000000000000000000000000"
DAY = "2025-05-23"  # a listing day with several labelled LFM papers
REPO_MODEL = Path(__file__).resolve().parents[1] / "models" / "lfm-model.npz"
ENTRY = re.compile(r"^- \[\[arXiv\]\(https://arxiv\.org/abs/\d{4}\.\d{4,5}\)\] \S.*$")


def _corpus(shared: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The first 3,000 corpus papers (2024) for the store, and every paper listed on DAY."""
    older, day = [], []
    with gzip.open(shared / "arxiv-corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n < 3000:
                older.append(json.loads(line))
            elif DAY in line:
                paper = json.loads(line)
                if paper.get("listed") == DAY:
                    day.append(paper)
            elif day:
                break  # sorted by listing day: past it
    return older, day


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    older, day = _corpus(SHARED_DATA)
    base = tmp_path_factory.mktemp("shared")
    corpus = base / "older.jsonl"
    corpus.write_text("".join(json.dumps(p) + "\n" for p in older), encoding="utf-8")
    model = base / "lfm-model.npz"
    if REPO_MODEL.exists():
        shutil.copy(REPO_MODEL, model)
        shutil.copy(REPO_MODEL.with_name("lfm-model.card.json"), base / "lfm-model.card.json")
    else:
        _train(SHARED_DATA, older, {p["id"] for p in day}, model)
    return {"corpus": corpus, "day": day, "model": model, "readme": (SHARED_DATA / "awesome-lfm" / "README.md")}


def _train(shared: Path, negatives: list[dict[str, Any]], held_out: set[str], out: Path) -> None:
    from lfmwatch.awesome import parse_list
    from lfmwatch.config import Config
    from lfmwatch.model.examples import example
    from lfmwatch.model.fit import FitOptions, fit_model
    from lfmwatch.model.io import save_model
    from lfmwatch.model.readers import label_examples

    examples = [e for e in label_examples(shared / "lfm-labels.jsonl") if e.id not in held_out and e.abstract]
    examples += [example(p["id"], p["title"], p["abstract"], None, "negative") for p in negatives[:1000]]
    readme = (shared / "awesome-lfm" / "README.md").read_text(encoding="utf-8")
    sections = list(parse_list(readme, exclude=Config().target.exclude_sections).paper_sections())
    save_model(fit_model(examples, sections=sections, options=FitOptions(folds=2)), out)


@pytest.fixture
def world(shared_world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubFake]:
    (tmp_path / "models").mkdir()
    for f in shared_world["model"].parent.glob("lfm-model*"):
        shutil.copy(f, tmp_path / "models" / f.name)
    (tmp_path / "lfmwatch.toml").write_text(
        f'[target]\nrepo = "{REPO}"\n[arxiv]\ndelay_seconds = 0\nmax_retries = 1\n'
        '[model]\npath = "models/lfm-model.npz"\n'
    )
    yesterday = str(datetime.now(UTC).date() - timedelta(days=1))
    served = [{**p, "published": yesterday} for p in shared_world["day"]]
    readme = shared_world["readme"].read_text(encoding="utf-8")
    with ArxivEmulator(served) as emu, GitHubFake() as gh:
        gh.add_token(TOKEN, push={REPO})
        gh.create_repo(REPO, {"README.md": readme})
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", emu.url)
        monkeypatch.setenv("GITHUB_API_URL", gh.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        result = CliRunner().invoke(cli, ["import", str(shared_world["corpus"])])
        assert result.exit_code == 0, result.output
        yield gh


def test_run_on_real_data_proposes_list_style_entries_and_is_idempotent(world: GitHubFake, tmp_path: Path) -> None:
    gh = world
    first = CliRunner().invoke(cli, ["run"])
    assert first.exit_code == 0, first.output
    assert re.search(r"proposed \d+ paper\(s\) in PR #1", first.output), first.output
    base = gh.file(REPO, "README.md").splitlines()
    head = gh.file(REPO, "README.md", "lfmwatch/papers").splitlines()
    diff = [d for d in difflib.ndiff(base, head) if d[:1] in "+-"]
    assert diff and all(d.startswith("+ ") for d in diff), "only added lines"
    added = [d[2:] for d in diff if d[2:].strip()]
    assert added and all(ENTRY.match(line) for line in added), added
    with Store(tmp_path / "state.db") as store:
        (n_proposed,) = store.db.execute("SELECT COUNT(*) FROM proposals WHERE status = 'proposed'").fetchone()
        assert n_proposed == len(added) <= 10  # select.max_per_run
        papers = store.db.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
        assert papers > 3000

    branch = gh.branches(REPO)["lfmwatch/papers"]
    second = CliRunner().invoke(cli, ["run"])
    assert second.exit_code == 0, second.output
    assert "no paper proposed:" in second.output
    if n_proposed == 10:  # a backlog is left: the daily cap, not the window, is why nothing more is proposed
        assert "daily cap reached: 10 papers were already proposed today" in second.output
    assert gh.branches(REPO)["lfmwatch/papers"] == branch and len(gh.pulls(REPO)) == 1
