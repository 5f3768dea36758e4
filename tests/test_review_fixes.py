"""The small reviewer-facing fixes of issue 16: ids, logging, wording, errors, rising topics, non-paper headings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import test_pipeline_e2e as e2e
from fakes.arxiv_emulator import ArxivEmulator
from fakes.github_fake import GitHubFake
from lfmwatch.cli import cli
from lfmwatch.errors import GitHubError, NetworkError

# The end-to-end world (arXiv emulator + GitHub fake + a tiny trained model), reused as pytest fixtures.
tiny_model, world, TOKEN = e2e.tiny_model, e2e.world, e2e.TOKEN


def test_ignore_rejects_what_is_not_an_arxiv_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LFMWATCH_DB", str(tmp_path / "state.db"))
    for cmd in ("ignore", "unignore"):
        res = CliRunner().invoke(cli, [cmd, "not-an-id"])
        assert res.exit_code == 2, res.output
        assert "'not-an-id' is not an arXiv id" in res.output and "2401.01234" in res.output
    ok = CliRunner().invoke(cli, ["ignore", "https://arxiv.org/abs/2401.01234v3"])
    assert ok.exit_code == 0 and "ignored 2401.01234" in ok.output


def test_verbose_run_logs_no_third_party_debug(world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path) -> None:
    env = {**os.environ, "LFMWATCH_DB": str(tmp_path / "state.db")}
    proc = subprocess.run([sys.executable, "-m", "lfmwatch", "-v", "run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    logged = [ln for ln in proc.stderr.splitlines() if " INFO " in ln or " DEBUG " in ln]
    assert any(" lfmwatch." in ln for ln in logged), proc.stderr[-2000:]  # lfmwatch's own log is there
    # (before the fix, markdown-it alone logged a DEBUG line per block rule per README parse)
    foreign = [ln for ln in logged if " DEBUG " in ln and " DEBUG lfmwatch" not in ln]
    assert foreign == [], foreign[:5]
    assert TOKEN not in proc.stderr + proc.stdout


def test_status_wording(world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path) -> None:
    _, gh = world
    assert CliRunner().invoke(cli, ["run"]).exit_code == 0
    out = CliRunner().invoke(cli, ["status"]).output
    assert "run run:" not in out and "poll run:" in out
    assert "no reviewed papers yet (3 pending)" in out and "% kept" not in out
    assert "with 3 papers" in out
    threshold = next(ln for ln in out.splitlines() if ln.startswith("model:")).split("threshold ")[1].split(",")[0]
    assert len(threshold.split(".")[-1]) <= 3, threshold
    from lfmwatch.run.status import plural

    assert plural(1, "paper") == "1 paper" and plural(0, "paper") == "0 papers"


def test_bad_token_error_names_the_repository_once(world: tuple[ArxivEmulator, GitHubFake]) -> None:
    from fakes.github_fake import fast_settings
    from lfmwatch.adapters.github import connect

    _, gh = world
    session = connect(fast_settings(gh, "wrong-token"))
    with pytest.raises(GitHubError) as err:
        session.repo("owner/list")
    msg = str(err.value)
    assert "401" in msg and msg.count("owner/list") == 1, msg


def test_arxiv_error_names_its_url_without_secrets() -> None:
    from lfmwatch.adapters.arxiv import ArxivSource, safe_url

    assert safe_url("https://u:p4ss@example.org:8443/api/query?search_query=cat:cs.LG&api_key=s3cr3t") == (
        "https://example.org:8443/api/query?search_query=cat:cs.LG&api_key=***")
    with ArxivEmulator([]) as emu:
        emu.inject("503", count=10)
        src = ArxivSource(emu.url, delay_seconds=0, timeout=2.0, max_retries=1, backoff=0.01, page_size=5)
        with pytest.raises(NetworkError) as err:
            list(src.search("cat:cs.LG"))
        assert emu.url.split("//")[1] in str(err.value) and "search_query=" in str(err.value)


def test_exciting_news_heading_is_not_a_section() -> None:
    from lfmwatch.awesome import parse_list
    from lfmwatch.config import Config

    text = ("# List\n\n### 🎉 **Exciting News (2024.11): Our Paper Has Been Accepted!**\n\nYay.\n\n"
            "## Model Tuning\n\n- [[arXiv](https://arxiv.org/abs/2401.00001)] A paper\n\n## Citation\n\nx\n")
    lst = parse_list(text, Config().target.exclude_sections)
    assert lst.paper_sections() == ["Model Tuning"]
    # Patterns are opt-in: an exact name still matches only itself.
    assert len(parse_list(text, ["Exciting News", "Citation"]).paper_sections()) == 2


@pytest.mark.shared
def test_real_list_news_heading_excluded(shared_data: Path) -> None:
    from lfmwatch.awesome import parse_list
    from lfmwatch.config import Config

    text = (shared_data / "awesome-lfm" / "README.md").read_text(encoding="utf-8")
    sections = parse_list(text, Config().target.exclude_sections).paper_sections()
    assert not [s for s in sections if "News" in s] and "Model Tuning > Weight Enginerring > Fine Tuning" in sections



def rendered_html(markdown: str) -> list[str]:
    """Link targets other than arXiv abstract pages, and raw HTML other than the bot's own markers and details."""
    from propose_fixtures import rendered_links

    hrefs, html = rendered_links(markdown)
    return [h for h in hrefs if not h.startswith("https://arxiv.org/abs/")] + html
