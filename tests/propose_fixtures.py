"""The GitHub side of the propose/sync tests: the list repository on the fake, its config, seeded papers."""

from __future__ import annotations

import json
import re
from typing import Any

from fakes.github_fake import GitHubFake, fast_settings
from lfmwatch.adapters.github import connect
from lfmwatch.config import Config, config_from_dict
from lfmwatch.store.db import Store, utcnow

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


def make_fake() -> GitHubFake:
    """A started fake with the list repository and a bot token that may push to it (caller stops it)."""
    fake = GitHubFake().start()
    fake.add_token(TOKEN, "lfmwatch-bot", push={REPO})
    fake.create_repo(REPO, {"README.md": README, "LICENSE": "MIT\n"})
    return fake


def session_for(fake: GitHubFake, token: str = TOKEN, retries: int = 2) -> Any:
    return connect(fast_settings(fake, token, retries=retries))


DAY1 = [("2501.00001", "Task arithmetic in the tangent space", WI, 0.97),
        ("2501.00002", "Sparse adapters for everyone", AD, 0.91),
        ("2501.00003", "Fine-tuning with less forgetting", FT, 0.88)]
DAY2 = [("2501.00004", "Merging models without data", WI, 0.95),
        ("2501.00005", "Prefix adapters revisited", AD, 0.85)]


HOSTILE = [("2501.00011", "[x](http://evil.example) <img src=x onerror=alert(1)> @octocat\nfoo", WI, 0.99),
           ("2501.00012", "# Heading? <script>alert(1)</script> ![p](http://evil/p.png) #123", AD, 0.98)]


#: The bot's own markup in a PR body: its hidden markers and the collapsible details blocks (fixed text).
OWN_HTML = re.compile(r"^(?:\s|<!-- lfmwatch:[a-z-]+(?::[0-9a-z./-]+)? -->|</?details>|<summary>details</summary>)*$")


def rendered_links(markdown: str) -> tuple[list[str], list[str]]:
    """Link targets and raw HTML of a CommonMark rendering (what a reader could click or what could run)."""
    from markdown_it import MarkdownIt

    hrefs, html = [], []
    for tok in MarkdownIt("commonmark").parse(markdown):
        for t in [tok, *(tok.children or [])]:
            if t.type in ("link_open", "image"):
                hrefs.append(str(t.attrs.get("href") or t.attrs.get("src")))
            if t.type in ("html_inline", "html_block") and not OWN_HTML.match(t.content):
                html.append(t.content)
    return hrefs, html
