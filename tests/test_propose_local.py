"""Local mode (`propose --readme`), dry runs, and the CLI commands around the pull request."""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lfmwatch.awesome import normalize_title, parse_list
from lfmwatch.cli import cli
from lfmwatch.config import Config
from lfmwatch.errors import InputError
from lfmwatch.pr.propose import propose_local
from lfmwatch.store.db import Store
from propose_fixtures import AD, DAY1, DAY2, HOSTILE, README, REPO, TOKEN, make_fake, rendered_links, seed


def db(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.db")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "-"


def only_insertions(old: str, new: str) -> list[str]:
    """The lines `new` adds to `old`; fails when anything else changed."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    added = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        assert op in ("equal", "insert"), (op, a[i1:i2], b[j1:j2])
        if op == "insert":
            added += b[j1:j2]
    return added


def test_local_mode_keeps_crlf_line_endings(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    crlf = README.replace("\n", "\r\n").encode("utf-8")
    readme.write_bytes(crlf)
    with db(tmp_path) as store:
        seed(store, DAY1)
        res = propose_local(store, Config(), readme, tmp_path / "out.md", None)
    assert res.status == "local" and res.proposed
    out = (tmp_path / "out.md").read_bytes()
    assert out.count(b"\n") == out.count(b"\r\n")  # no bare LF anywhere
    added = only_insertions(crlf.decode("utf-8"), out.decode("utf-8"))
    assert len([ln for ln in added if ln.strip()]) == len(res.proposed)
    assert readme.read_bytes() == crlf


def test_local_mode_rejects_a_non_utf8_list(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_bytes(b"# List\n\n## A\n\n- caf\xe9\n")
    with db(tmp_path) as store, pytest.raises(InputError, match="not UTF-8"):
        propose_local(store, Config(), readme, tmp_path / "out.md", None)
    assert not (tmp_path / "out.md").exists()


def test_local_mode_edits_copy_and_writes_body(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")
    with db(tmp_path) as store:
        seed(store, DAY1 + HOSTILE + [("2008.03156", "Already there", AD, 0.99)])
        res = propose_local(store, Config(), readme, tmp_path / "out.md", tmp_path / "body.md")
        assert res.status == "local" and len(res.proposed) == 5 and res.skipped["in_list"] == 1
        assert store.db["proposals"].count == 0  # local mode records nothing unless asked
    out = (tmp_path / "out.md").read_text(encoding="utf-8")
    assert readme.read_text(encoding="utf-8") == README
    added = [ln for ln in only_insertions(README, out) if ln.strip()]
    assert len(added) == 5 and all(ln.startswith("- [[arXiv](https://arxiv.org/abs/2501.000") for ln in added)
    body = (tmp_path / "body.md").read_text(encoding="utf-8")
    hrefs, html = rendered_links(body)
    assert not html and all(h.startswith("https://arxiv.org/abs/2501.000") for h in hrefs)
    # Rerun on the edited copy: everything is in the list now.
    with db(tmp_path) as store:
        again = propose_local(store, Config(), tmp_path / "out.md", tmp_path / "out2.md", None)
    assert again.status == "nothing" and again.skipped["in_list"] == 6 and not (tmp_path / "out2.md").exists()


def test_local_record_blocks_github_mode(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")
    with db(tmp_path) as store:
        seed(store, DAY1)
        propose_local(store, Config(), readme, tmp_path / "out.md", None, record=True)
        rows = list(store.db["proposals"].rows)
        assert {r["status"] for r in rows} == {"proposed"} and {r["pr_number"] for r in rows} == {None}


def test_cli_local_dry_run_changes_nothing(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")
    # The seeded predictions come from model "m1", whose file is not here (no card: the newest predictions count).
    (tmp_path / "lfmwatch.toml").write_text('[model]\npath = "m1.npz"\n', encoding="utf-8")
    with db(tmp_path) as store:
        seed(store, DAY1)
    before = digest(tmp_path / "state.db")
    result = CliRunner().invoke(cli, ["propose", "--dry-run", "--readme", str(readme), "--out",
                                      str(tmp_path / "o.md"), "--body", str(tmp_path / "b.md")])
    assert result.exit_code == 0, result.output
    assert "+- [[arXiv](https://arxiv.org/abs/2501.00001)] Task arithmetic in the tangent space" in result.output
    assert "----- pull request body -----" in result.output and "dry-run: 3 new paper(s)" in result.output
    assert digest(tmp_path / "state.db") == before and not (tmp_path / "o.md").exists()
    assert not (tmp_path / "b.md").exists() and readme.read_text(encoding="utf-8") == README


def test_cli_github_propose_sync_ignore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lfmwatch.toml").write_text(f'[target]\nrepo = "{REPO}"\n[model]\npath = "m1.npz"\n', encoding="utf-8")
    with db(tmp_path) as store:
        seed(store, DAY1)
    runner = CliRunner()
    assert "GITHUB_TOKEN is not set" in runner.invoke(cli, ["propose"]).output
    with make_fake() as gh:
        monkeypatch.setenv("GITHUB_API_URL", gh.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        dry = runner.invoke(cli, ["propose", "--dry-run"])
        assert dry.exit_code == 0 and "would open a PR with 3 new paper(s)" in dry.output and not gh.pulls(REPO)
        first = runner.invoke(cli, ["propose"])
        assert first.exit_code == 0 and "proposed: 3 new paper(s) in PR #1" in first.output, first.output
        second = runner.invoke(cli, ["propose"])
        assert second.exit_code == 0 and second.output.startswith("nothing to propose:")
        assert len(second.output.strip().splitlines()) == 1 and TOKEN not in first.output + second.output
        assert runner.invoke(cli, ["ignore", "arXiv:2501.00004v2"]).exit_code == 0
        with db(tmp_path) as store:
            seed(store, DAY2)
        third = runner.invoke(cli, ["propose"])
        assert "updated: 1 new paper(s) in PR #1" in third.output, third.output
        gh.close_pull(REPO, 1)
        synced = runner.invoke(cli, ["sync"])
        assert synced.exit_code == 0 and "closed 4" in synced.output, synced.output
        assert "unignored 2501.00004" in runner.invoke(cli, ["unignore", "2501.00004"]).output
        assert "neither rejected nor ignored" in runner.invoke(cli, ["unignore", "2501.99999"]).output
        fourth = runner.invoke(cli, ["propose"])
        assert "proposed: 1 new paper(s) in PR #2" in fourth.output, fourth.output
        gh.add_token("ro", "reader", push=False)
        monkeypatch.setenv("GITHUB_TOKEN", "ro")
        denied = runner.invoke(cli, ["propose"])
        assert denied.exit_code == 1 and "contents: write" in denied.output


@pytest.mark.shared
def test_propose_readme_on_real_list(shared_data: Path, tmp_path: Path) -> None:
    # Bytes throughout: the real list has CRLF line endings, which must survive the edit.
    original = (shared_data / "awesome-lfm" / "README.md").read_bytes().decode("utf-8")
    assert "\r\n" in original
    copy = tmp_path / "README.md"
    copy.write_bytes(original.encode("utf-8"))
    (tmp_path / "lfmwatch.toml").write_text('[model]\npath = "m1.npz"\n', encoding="utf-8")  # predictions of "m1"
    lst = parse_list(original, exclude=Config().target.exclude_sections)
    sections = set(lst.paper_sections())
    labels = [json.loads(line) for line in (shared_data / "lfm-labels.jsonl").read_text().splitlines()[:400]]
    papers = [(r["id"], r["title"], r["section"], 0.5 + (i % 50) / 100) for i, r in enumerate(labels)
              if r.get("id") and r["section"] in sections]
    with db(tmp_path) as store:
        seed(store, papers)
    # The seeded predictions are model "m1"'s: no model file, so not the packaged default model's version either.
    (tmp_path / "lfmwatch.toml").write_text('[model]\npath = "models/none.npz"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["propose", "--readme", str(copy), "--out", str(tmp_path / "out.md"),
                                      "--body", str(tmp_path / "body.md")])
    assert result.exit_code == 0, result.output
    out = (tmp_path / "out.md").read_bytes().decode("utf-8")
    added = [ln.rstrip("\r\n") for ln in only_insertions(original, out) if ln.strip()]
    assert all(ln.endswith("\r\n") for ln in only_insertions(original, out))
    assert 0 < len(added) <= Config().select.max_per_run
    edited = parse_list(out, exclude=Config().target.exclude_sections)
    by_id = {p[0]: p for p in papers}
    old_titles = {normalize_title(e.title) for e in lst.entries}
    for line in added:
        entry = next(e for e in edited.entries if e.arxiv_id and f"abs/{e.arxiv_id})" in line)
        assert line.startswith(f"- [[arXiv](https://arxiv.org/abs/{entry.arxiv_id})] ")
        assert entry.section == by_id[entry.arxiv_id][2] and entry.section in sections
        assert lst.find(arxiv_id=entry.arxiv_id) is None and normalize_title(entry.title) not in old_titles
