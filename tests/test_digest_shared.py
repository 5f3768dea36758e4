"""The digest of 2025-W30 over real corpus papers (skipped when ../shared/data is absent)."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from lfmwatch.store.db import open_store
from lfmwatch.store.papers import paper_from_record, upsert_papers

pytestmark = pytest.mark.shared

# Test-only stand-in for the classifier: a paper is "relevant" when its title names an LFM topic.
TOPICS = [
    (r"merg", "Model Reuse > Model Fusion > Weight Interpolation"),
    (r"\blora\b|low-rank adaptation|parameter-efficient", "Model Tuning > Weight Enginerring > Adapter Tuning"),
    (r"distill", "Model Distillation > Generative Reconstruction"),
    (r"knowledge editing|model editing", "Model Editing > Parameter Based Model Editing > Locate And Edit"),
    (r"retrieval-augmented", "Database Augmentation > Language Database Augmentation"),
]


def test_week_30_from_the_corpus(shared_data: Path, tmp_path: Path):
    papers = []
    with gzip.open(shared_data / "arxiv-corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            if obj["listed"] > "2025-07-27":
                break
            if obj["listed"] >= "2025-06-23":
                papers.append(paper_from_record(obj))
    store = open_store(tmp_path / "state.db")
    upsert_papers(store, papers, source="import")
    rows = []
    for p in papers:
        for rx, section in TOPICS:
            if re.search(rx, p["title"].lower()):
                rows.append({"paper_id": p["id"], "model_version": "kw", "relevant": 1, "score": 0.8,
                             "section": section, "sections": "[]", "why": "[]", "created": "2025-07-28"})
                break
    store.db["predictions"].insert_all(rows)
    store.close()
    from lfmwatch.cli import cli

    res = CliRunner().invoke(cli, ["digest", "--week", "2025-W30", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    msg = email.message_from_bytes((tmp_path / "out" / "digest-2025-W30.eml").read_bytes(),
                                   policy=email.policy.default)
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "2025-W30 (21–27 July 2025)" in text and "Rising topics:" in text
    shown = re.findall(r"https://arxiv\.org/abs/(\d{4}\.\d{5})", text)
    assert len(shown) >= 20 and all(s.startswith("2507.") for s in shown)
    assert "<script" not in html.lower() and "http://" not in html and "<img" not in html.lower()
