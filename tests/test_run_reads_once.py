"""One daily run reads each piece of GitHub state once when nothing was written in between (issue 12)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from fakes.arxiv_emulator import ArxivEmulator
from fakes.github_fake import GitHubFake
from lfmwatch.cli import cli
from lfmwatch.pr.propose import propose, propose_to_github, select_for_pr
from lfmwatch.pr.reads import RunReads
from lfmwatch.store.db import Store
from propose_fixtures import DAY1, DAY2, REPO, make_config, seed, session_for
from test_pipeline_e2e import REPO as E2E_REPO
from test_pipeline_e2e import tiny_model, world  # noqa: F401  (fixtures)


def test_a_quiet_daily_run_reads_the_readme_and_the_branch_once(
    world: tuple[ArxivEmulator, GitHubFake], tmp_path: Path  # noqa: F811
) -> None:
    _, gh = world
    first = CliRunner().invoke(cli, ["run"])
    assert first.exit_code == 0, first.output
    start, writes = len(gh.requests), gh.writes
    second = CliRunner().invoke(cli, ["run"])  # the PR is open, nothing new: sync, select and propose only read
    assert second.exit_code == 0, second.output
    assert gh.writes == writes
    reads = Counter((m, p) for m, p, _ in gh.requests[start:])
    repo = f"/repos/{E2E_REPO}"
    # The README twice: at the base head and at the bot branch head (which sync's review of the PR reads too).
    assert reads[("GET", f"{repo}/contents/README.md")] == 2
    assert reads[("GET", f"{repo}/git/ref/heads/main")] == 1
    assert reads[("GET", f"{repo}/git/ref/heads/lfmwatch/papers")] == 1
    assert sum(n for (m, p), n in reads.items() if p.startswith(f"{repo}/compare/")) == 1
    assert reads[("GET", f"{repo}/pulls")] == 2  # sync lists every bot PR, select the open one
    assert sum(reads.values()) == 14, sorted(reads.items())


def _day2_selected(gh: GitHubFake, store: Store) -> tuple[Any, Any, RunReads, list[Any]]:
    """PR #1 open with DAY1's papers; DAY2's papers selected with a fresh RunReads (config, session, reads, chosen)."""
    cfg = make_config()
    seed(store, DAY1)
    assert propose(store, cfg, session_for(gh)).pr_number == 1
    seed(store, DAY2)
    session, reads = session_for(gh), RunReads()
    chosen, _ = select_for_pr(store, cfg, session, reads=reads)
    return cfg, session, reads, chosen


def test_a_pr_closed_between_select_and_propose_is_read_again(gh: GitHubFake, store: Store) -> None:
    cfg, session, reads, chosen = _day2_selected(gh, store)
    assert sorted(p["id"] for p in chosen) == ["2501.00004", "2501.00005"]
    gh.close_pull(REPO, 1)  # a reviewer closes the PR while the run summarizes
    res = propose_to_github(store, cfg, session, chosen, reads=reads)
    assert res.pr_number == 2 and res.created_pr  # not committed to the closed PR's branch as if it were open
    assert [p["state"] for p in gh.pulls(REPO)] == ["closed", "open"]
    rows = {r["paper_id"]: r["pr_number"] for r in store.db["proposals"].rows}
    assert rows["2501.00004"] == rows["2501.00005"] == 2


def test_a_commit_on_the_branch_between_select_and_propose_is_read_again(gh: GitHubFake, store: Store) -> None:
    cfg, session, reads, chosen = _day2_selected(gh, store)
    gh.edit_file(REPO, "lfmwatch/papers", "README.md", lambda t: t + "\nA reviewer's line.\n")
    res = propose_to_github(store, cfg, session, chosen, reads=reads)
    assert res.pr_number == 1 and sorted(res.proposed) == ["2501.00004", "2501.00005"]
    assert "A reviewer's line." in gh.file(REPO, "README.md", "lfmwatch/papers")  # built on top, never lost
