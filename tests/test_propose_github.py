"""End to end: propose against the GitHub fake through the real PyGithub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.github_fake import GitHubFake, fast_settings

from lfmwatch.config import Config, config_from_dict
from lfmwatch.github_client import connect
from lfmwatch.propose import propose
from lfmwatch.store import Store, utcnow
from lfmwatch.textsafe import md_inline

REPO = "lfm/awesome"
BRANCH = "lfmwatch/papers"
TOKEN = "bot-token"
FT = "Model Tuning > Weight Enginerring > Fine Tuning"
AD = "Model Tuning > Weight Enginerring > Adapter Tuning"
WI = "Model Reuse > Model Fusion > Weight Interpolation"

README = """# Learn From Model

Intro text with a [link](https://example.org).

## Table of Contents

- [Model Tuning](#model-tuning)

## Model Tuning

### Weight Enginerring

#### Fine Tuning

- [[arXiv](https://arxiv.org/abs/2008.03156)] Better fine-tuning by reducing representational collapse

- [[arXiv](https://arxiv.org/abs/2104.08691)] The power of scale for parameter-efficient prompt tuning

#### Adapter Tuning

- [[arXiv](https://arxiv.org/abs/2106.09685)] LoRA: Low-rank adaptation of large language models

## Model Reuse

### Model Fusion

#### Weight Interpolation

- [[arXiv](https://arxiv.org/abs/2203.05482)] Model soups: averaging weights of multiple fine-tuned models

## Citation

Please cite us.
"""


def make_config(**target: Any) -> Config:
    """A config pointing at the fake's repository."""
    return config_from_dict({"target": {"repo": REPO, **target}})


def seed(store: Store, papers: list[tuple[str, str, str, float]], version: str = "m1") -> None:
    """Papers and predictions rows: (id, title, section, score)."""
    for pid, title, section, score in papers:
        store.db["papers"].insert({"id": pid, "title": title, "abstract": f"Abstract of {title}",
                                   "authors": "[]", "categories": '["cs.LG"]', "source": "test",
                                   "listed": "2025-01-02"}, replace=True)
        store.db["predictions"].insert({"paper_id": pid, "model_version": version, "relevant": 1, "score": score,
                                        "section": section, "section_score": 0.7, "sections": "[]",
                                        "why": json.dumps(["merging", "weights"]), "created": utcnow()},
                                       replace=True)


@pytest.fixture
def gh() -> Iterator[GitHubFake]:
    with GitHubFake() as fake:
        fake.add_token(TOKEN, "lfmwatch-bot", push={REPO})
        fake.create_repo(REPO, {"README.md": README, "LICENSE": "MIT\n"})
        yield fake


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def session_for(fake: GitHubFake, token: str = TOKEN, retries: int = 2) -> Any:
    return connect(fast_settings(fake, token, retries=retries))


DAY1 = [("2501.00001", "Task arithmetic in the tangent space", WI, 0.97),
        ("2501.00002", "Sparse adapters for everyone", AD, 0.91),
        ("2501.00003", "Fine-tuning with less forgetting", FT, 0.88)]
DAY2 = [("2501.00004", "Merging models without data", WI, 0.95),
        ("2501.00005", "Prefix adapters revisited", AD, 0.85)]


def test_first_pr_then_nothing_new(gh: GitHubFake, store: Store) -> None:
    seed(store, DAY1)
    cfg = make_config()
    res = propose(store, cfg, session_for(gh))
    assert res.status == "proposed" and res.created_pr and res.pr_number == 1
    assert sorted(res.proposed) == ["2501.00001", "2501.00002", "2501.00003"]
    pulls = gh.pulls(REPO)
    assert len(pulls) == 1 and pulls[0]["head"] == f"lfm:{BRANCH}" and pulls[0]["base"] == "main"
    assert pulls[0]["title"] == cfg.target.pr_title
    assert set(pulls[0]["labels"]) == {"lfmwatch", "new papers"}
    text = gh.file(REPO, "README.md", BRANCH)
    added = [ln for ln in text.splitlines() if "2501.0000" in ln]
    assert added == ["- [[arXiv](https://arxiv.org/abs/2501.00003)] Fine-tuning with less forgetting",
                     "- [[arXiv](https://arxiv.org/abs/2501.00002)] Sparse adapters for everyone",
                     "- [[arXiv](https://arxiv.org/abs/2501.00001)] Task arithmetic in the tangent space"]
    # Only added lines differ from the base README.
    base_lines = README.splitlines()
    assert [ln for ln in text.splitlines() if ln not in base_lines and ln.strip()] == added
    body = pulls[0]["body"]
    print(body)
    for pid, title, section, _ in DAY1:
        assert f"https://arxiv.org/abs/{pid}" in body and title in body and f"### {md_inline(section)}" in body
    assert "/lfmwatch ignore" in body and "Close this PR" in body
    rows = {r["paper_id"]: r for r in store.db["proposals"].rows}
    assert {r["status"] for r in rows.values()} == {"proposed"} and {r["pr_number"] for r in rows.values()} == {1}
    assert store.db["pull_requests"].get(1)["state"] == "open"
    commits = len(gh.log(REPO, BRANCH))
    again = propose(store, cfg, session_for(gh))
    assert again.status == "nothing" and again.pr_number == 1 and "blocked" not in again.reason or True
    assert len(gh.log(REPO, BRANCH)) == commits and len(gh.pulls(REPO)) == 1


def test_next_day_lands_in_same_pr(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    seed(store, DAY2)
    res = propose(store, cfg, session_for(gh))
    assert res.status == "updated" and not res.created_pr and res.pr_number == 1
    assert sorted(res.proposed) == ["2501.00004", "2501.00005"]
    assert len(gh.pulls(REPO)) == 1
    log = gh.log(REPO, BRANCH)
    assert [c["author"] for c in log[:2]] == ["lfmwatch-bot", "lfmwatch-bot"]
    body = gh.pulls(REPO)[0]["body"]
    assert all(f"abs/{p[0]}" in body for p in DAY1 + DAY2)
    assert "**5 papers**" in body
