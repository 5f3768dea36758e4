"""Entries like the list's own: the venue tag from the arXiv comment (`[[ICLR 2024](link)]`), else `arXiv`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lfmwatch.awesome import NewEntry, insert_entries, parse_list
from lfmwatch.awesome.venue import entry_venue, venue_from_comment
from lfmwatch.cli import cli
from lfmwatch.config import Config
from lfmwatch.pr.propose import propose_local
from lfmwatch.store.db import Store
from propose_fixtures import AD, DAY1, README, seed

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("comment", "venue"), [
    ("Accepted at NeurIPS 2025", "NeurIPS 2025"),
    ("EMNLP 2025 Main", "EMNLP 2025"),
    ("10 pages, 4 figures, ICML 2025", "ICML 2025"),
    ("Accepted to CVPR2024 (highlight)", "CVPR 2024"),
    ("ICLR'24 oral", "ICLR 2024"),
    ("AAAI-25", "AAAI 2025"),
    ("Accepted to EMNLP 2025 Findings", "EMNLP 2025 Findings"),
    ("Published in Transactions on Machine Learning Research (03/2025)", "TMLR 2025"),
    ("Extended version of our ICML 2023 paper; accepted to IEEE TPAMI 2025", "TPAMI 2025"),
    ("Accepted by TPAMI", "TPAMI 2024"),  # no year written: the paper's own year
    ("NIPS 2017", "NeurIPS 2017"),
    ("camera-ready for ACL 2024 main conference", "ACL 2024"),
    ("Accepted at KDD 2025", "KDD 2025"),
    ("IJCAI 2024", "IJCAI 2024"),
    ("Accepted to NAACL 2025", "NAACL 2025"),
    ("ECCV 2024", "ECCV 2024"),
    ("ICCV 2025", "ICCV 2025"),
    ("JMLR 2023", "JMLR 2023"),
])
def test_venue_named_in_the_comment(comment: str, venue: str) -> None:
    assert venue_from_comment(comment, 2024) == venue


@pytest.mark.parametrize("comment", [
    None, "", "12 pages, 5 figures", "Submitted to ICML 2025", "Under review at ICLR 2026",
    "ICLR 2024 Workshop on Mathematical and Empirical Understanding of Foundation Models",
    "We use the ACL anthology", "acl 2024",  # "acl" in lower case is not the venue
    "Code at https://github.com/x/iclr", "ACL Rolling Review submission", "Comparison with ICML baselines",
])
def test_no_venue(comment: str | None) -> None:
    assert venue_from_comment(comment, 2024) is None


def test_entry_uses_the_venue_tag_in_the_lists_style() -> None:
    lst_text = README
    res = insert_entries(lst_text, [NewEntry(AD, "2501.00009", "A venue paper", "NeurIPS 2025"),
                                    NewEntry(AD, "2501.00010", "A preprint", None),
                                    NewEntry(AD, "2501.00011", "Odd venue", "[x](http://e) ICLR")])
    lines = res.text.splitlines()
    assert "- [[NeurIPS 2025](https://arxiv.org/abs/2501.00009)] A venue paper" in lines
    assert "- [[arXiv](https://arxiv.org/abs/2501.00010)] A preprint" in lines
    odd = next(ln for ln in lines if "2501.00011" in ln)
    assert "](http://e)" not in odd  # untrusted text stays inert
    entries = {e.arxiv_id: e for e in parse_list(res.text).entries}
    assert entries["2501.00009"].venue == "NeurIPS 2025" and entries["2501.00009"].title == "A venue paper"
    assert entry_venue({"comment": "Accepted by TPAMI", "published": "2023-05-01"}) == "TPAMI 2023"
    assert entry_venue({"venue": "ICLR 2024", "comment": "NeurIPS 2025"}) == "ICLR 2024"


def test_propose_readme_writes_the_venue_tag(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")
    with Store(tmp_path / "state.db") as store:
        seed(store, DAY1)
        store.db["papers"].update("2501.00001", {"comment": "Accepted at NeurIPS 2025. Code: https://x.org"})
        store.db["papers"].update("2501.00002", {"comment": "Submitted to ICLR 2026"})
        propose_local(store, Config(), readme, tmp_path / "out.md", None)
    out = (tmp_path / "out.md").read_text(encoding="utf-8")
    assert "- [[NeurIPS 2025](https://arxiv.org/abs/2501.00001)] Task arithmetic in the tangent space" in out
    assert "- [[arXiv](https://arxiv.org/abs/2501.00002)] Sparse adapters for everyone" in out
    assert "- [[arXiv](https://arxiv.org/abs/2501.00003)] Fine-tuning with less forgetting" in out


@pytest.mark.shared
def test_propose_readme_on_the_real_list_tags_venue_papers(shared_data: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A real window of the arXiv corpus, classified by the committed model, proposed into the real list."""
    days = {"2025-07-01", "2025-07-02", "2025-07-03"}
    papers = tmp_path / "window.jsonl"
    with gzip.open(shared_data / "arxiv-corpus.jsonl.gz", "rt", encoding="utf-8") as src, \
            papers.open("w", encoding="utf-8") as dst:
        for line in src:
            d = json.loads(line)
            if str(d.get("listed") or d.get("published") or "")[:10] in days:
                dst.write(line)
    (tmp_path / "lfmwatch.toml").write_text(
        f'[model]\npath = "{ROOT / "models" / "lfm-model.npz"}"\n[select]\nmax_per_run = 40\n', encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(papers)]).exit_code == 0
    classified = runner.invoke(cli, ["classify"])
    assert classified.exit_code == 0, classified.output
    copy = tmp_path / "README.md"
    copy.write_bytes((shared_data / "awesome-lfm" / "README.md").read_bytes())
    res = runner.invoke(cli, ["propose", "--readme", str(copy), "--out", str(tmp_path / "out.md")])
    assert res.exit_code == 0, res.output
    out = (tmp_path / "out.md").read_bytes().decode("utf-8")
    old = set(copy.read_bytes().decode("utf-8").splitlines())
    added = [ln for ln in out.splitlines() if ln not in old and "arxiv.org/abs/" in ln]
    assert added, res.output
    comments = {}
    with Store(tmp_path / "state.db") as store:
        for r in store.db.query("SELECT id, comment, published FROM papers"):
            comments[r["id"]] = r
    tagged = 0
    for line in added:
        pid = line.split("arxiv.org/abs/")[1].split(")")[0]
        venue = venue_from_comment(comments[pid]["comment"], str(comments[pid]["published"] or "")[:4])
        label = line.split("[[", 1)[1].split("](", 1)[0]
        assert label == (venue or "arXiv"), (line, comments[pid]["comment"])
        tagged += venue is not None
    assert tagged >= 1, [comments[ln.split("abs/")[1].split(")")[0]]["comment"] for ln in added]
