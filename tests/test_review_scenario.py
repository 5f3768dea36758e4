"""Two weeks of maintaining the list with lfmwatch, against the GitHub fake (driven by PyGithub), replayed with
`lfmwatch run --until DATE`: every reviewer action, and what the branch, the PR body, the bot's replies, the
feedback rows and the weekly digest say after each step. Run with `-s` to read the transcript."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import test_pipeline_e2e as e2e
from fakes.arxiv_emulator import ArxivEmulator
from fakes.github_fake import GitHubFake
from lfmwatch.cli import cli
from lfmwatch.config import load_config
from lfmwatch.digest.content import build_digest
from lfmwatch.digest.render import render_text
from lfmwatch.store.db import Store

tiny_model, world = e2e.tiny_model, e2e.world
REPO, WI, FT = e2e.REPO, e2e.WI, e2e.FT
BRANCH = "lfmwatch/papers"
WEEK1, WEEK2 = "2026-W46", "2026-W47"  # Mon 2026-11-09 .. Sun 2026-11-22

A1, A2, A3, A4, A5, A6 = (f"2611.0010{i}" for i in range(1, 7))
B1, C1, C2, OWN = "2611.00201", "2611.00301", "2611.00302", "2611.00999"


def _paper(pid: str, day: str, title: str, abstract: str, comment: str = "") -> dict[str, Any]:
    return {"id": pid, "title": title, "abstract": abstract, "authors": ["Ada Lovelace", "Alan Turing", "Grace Hopper",
            "Edsger Dijkstra"], "categories": ["cs.LG"], "published": day, "comment": comment}


PAPERS = [
    _paper(A1, "2026-11-09", "Merging fine-tuned models by weight averaging",
           "Model soups interpolate weights. Task arithmetic and model merging of fine-tuned models follow."),
    _paper(A2, "2026-11-09", "Task arithmetic for model merging",
           "We merge fine-tuned models with weight averaging and interpolate weights. More text.",
           comment="Accepted at NeurIPS 2025. 12 pages"),
    _paper(A3, "2026-11-09", "Parameter-efficient fine-tuning with adapter tuning",
           "Low-rank adaptation and adapter tuning to fine-tune pretrained language models."),
    _paper(A4, "2026-11-09", "Low-rank adaptation to fine-tune pretrained language models",
           "Parameter-efficient fine-tuning with low-rank adaptation and adapter tuning."),
    _paper(A5, "2026-11-09", "Model soups: interpolate weights of fine-tuned models",
           "Weight averaging, model merging and task arithmetic for fine-tuned models."),
    _paper(A6, "2026-11-09", "Instruction fine-tuning with adapter tuning",
           "Instruction fine-tuning and full fine-tuning with low-rank adaptation of pretrained language models."),
    _paper(B1, "2026-11-10", "Weight averaging and model merging of fine-tuned models",
           "Model merging: interpolate weights and task arithmetic for fine-tuned models."),
    _paper(C1, "2026-11-16", "Model merging with task arithmetic at scale",
           "Weight averaging and model soups interpolate weights of fine-tuned models."),
    _paper(C2, "2026-11-16", "Adapter tuning for full fine-tuning budgets",
           "Parameter-efficient fine-tuning: adapter tuning and low-rank adaptation of pretrained language models."),
    *[_paper(f"2611.0080{i}", "2026-11-09", f"Deep learning for {t}", f"We address {t} with deep networks.")
      for i, t in enumerate(e2e.OTHER[:5])],
]


@pytest.fixture
def _scenario_papers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e2e, "arxiv_papers", lambda: PAPERS)  # the end-to-end world, with these two weeks' papers


@pytest.fixture
def scenario(_scenario_papers: None, world: tuple[ArxivEmulator, GitHubFake],
             tmp_path: Path) -> Iterator[tuple[GitHubFake, Path]]:
    yield world[1], tmp_path


def run(day: str) -> str:
    res = CliRunner().invoke(cli, ["run", "--until", day])
    assert res.exit_code == 0, res.output
    return res.output


def branch_sections(gh: GitHubFake, ref: str = BRANCH) -> dict[str, str]:
    """arXiv id -> the section its line is under, on a branch (or sha)."""
    from lfmwatch.awesome import parse_list

    text = gh.file(REPO, "README.md", ref) or ""
    return {e.arxiv_id: e.section for e in parse_list(text, ["Table of Contents", "Citation"]).entries if e.arxiv_id}


def feedback(db: Path) -> list[tuple[str, str, str | None, str]]:
    with Store(db) as store:
        return [tuple(r) for r in store.db.execute(  # type: ignore[misc]
            "SELECT paper_id, label, section, source FROM feedback ORDER BY id").fetchall()]


def digest(db: Path, week: str) -> tuple[list[tuple[str, str, str, str]], str]:
    config = load_config()
    with Store(db) as store:
        d = build_digest(store, week, config)
    return [(g.id, g.title, g.label, g.section) for g in d.gained], render_text(d, config)


def show(step: str, gh: GitHubFake, db: Path, number: int | None = None) -> None:
    """The transcript of a step (visible with -s): branch, PR body, replies, feedback rows, digests."""
    print(f"\n===== {step}")
    print("branch:", json.dumps(branch_sections(gh), indent=1))
    if number is not None:
        pr = next(p for p in gh.pulls(REPO) if p["number"] == number)
        print(f"PR #{number} ({pr['state']}{', merged' if pr['merged'] else ''}):\n{pr['body'][:3000]}")
        for c in gh.comments_on(REPO, number):
            print(f"comment {c['id']} by {c['user']} ({c['association']}): {c['body']!r} -> "
                  f"{gh.reactions(REPO, c['id'])}")
    print("feedback:", *feedback(db), sep="\n  ")
    for week in (WEEK1, WEEK2):
        print(f"digest {week}:", digest(db, week)[0])


def test_two_weeks_of_reviews(scenario: tuple[GitHubFake, Path]) -> None:
    gh, home = scenario
    db = home / "state.db"

    # --- Mon 9 Nov: the first run opens PR #1 with the day's papers, the NeurIPS paper tagged as the list does.
    out = run("2026-11-09")
    on_branch = branch_sections(gh)
    assert {A1, A2, A3, A4, A5, A6} <= set(on_branch) and on_branch[A2] == WI and on_branch[A3] == FT
    readme = gh.file(REPO, "README.md", BRANCH)
    assert f"- [[NeurIPS 2025](https://arxiv.org/abs/{A2})] Task arithmetic for model merging" in readme
    assert f"- [[arXiv](https://arxiv.org/abs/{A1})] Merging fine-tuned models by weight averaging" in readme
    body = gh.pulls(REPO)[0]["body"]
    assert "**6 papers**" in body and "Ada Lovelace, Alan Turing, Grace Hopper et al. — Model soups interpolate " \
        "weights." in body and f"<!-- lfmwatch:paper:{A1} -->" in body and "<details>" in body
    assert "proposed 6 paper" in out
    show("Mon: PR #1 opened", gh, db, 1)

    # --- Tue: reviewers at work on PR #1.
    gh.remove_line(REPO, BRANCH, f"abs/{A4})", author="alice")  # a removed line
    gh.move_line(REPO, BRANCH, f"abs/{A6})", "Weight Interpolation", author="alice")  # a moved line
    gh.edit_file(REPO, BRANCH, "README.md", lambda t: t.replace(  # a line of their own
        "#### Weight Interpolation\n\n",
        f"#### Weight Interpolation\n\n- [[arXiv](https://arxiv.org/abs/{OWN})] A reviewer's favourite soup\n\n", 1),
        message="Add my favourite", author="alice")
    ignore = gh.comment(REPO, 1, f"/lfmwatch ignore {A5}", user="bob", association="COLLABORATOR")
    move = gh.comment(REPO, 1, f"Looks like merging to me.\n/lfmwatch move {A3} Weight Interpolation", user="bob",
                      association="COLLABORATOR")
    stranger = gh.comment(REPO, 1, f"/lfmwatch ignore {A1}", user="eve", association="NONE")
    typo = gh.comment(REPO, 1, f"/lfmwatch mvoe {A2} Fine Tuning\n/lfmwatch move {A2} Fine Tunning", user="bob",
                      association="COLLABORATOR")
    out = run("2026-11-10")
    on_branch = branch_sections(gh)
    # The branch: commands acted (A5 gone, A3 moved), reviewers' edits kept, B1 added on top.
    assert A5 not in on_branch and A4 not in on_branch and on_branch[A3] == WI and on_branch[A6] == WI
    assert on_branch[OWN] == WI and on_branch[B1] == WI and on_branch[A1] == WI
    messages = [c["message"] for c in gh.log(REPO, BRANCH)]
    assert any(m.startswith(f"lfmwatch: remove {A5}") for m in messages)
    assert any(m.startswith(f"lfmwatch: move {A3} to {WI}") for m in messages)
    # The answers: a reaction when done, a reply when refused or not understood.
    assert gh.reactions(REPO, ignore) == [("lfmwatch-bot", "+1"), ("lfmwatch-bot", "rocket")]
    assert gh.reactions(REPO, move) == [("lfmwatch-bot", "+1"), ("lfmwatch-bot", "rocket")]
    assert gh.reactions(REPO, stranger) == [] and gh.reactions(REPO, typo) == [("lfmwatch-bot", "confused")]
    replies = [c["body"].replace("\\", "") for c in gh.comments_on(REPO, 1) if c["user"] == "lfmwatch-bot"]
    assert len(replies) == 2 and "eve cannot steer lfmwatch" in replies[0]
    assert "unknown command 'mvoe'" in replies[1] and "unknown section 'Fine Tunning'" in replies[1]
    assert f"did you mean '{FT}'" in replies[1] and "/lfmwatch move ARXIV_ID SECTION" in replies[1]
    # The PR body: the bot's papers, and the reviewer's own line apart (not a proposal).
    body = gh.pulls(REPO)[0]["body"]
    assert "**5 papers**" in body and "### Added by reviewers (1)" in body and "added by alice" in body
    own_part = body[body.index("### Added by reviewers"):]
    assert "A reviewer's favourite soup" in own_part and A1 not in own_part
    # Feedback so far: the commands only (an open PR decides nothing); the digest shows nothing as merged.
    assert feedback(db) == [(A5, "ignored", None, f"comment#{ignore}"), (A3, "moved", WI, f"comment#{move}")]
    assert digest(db, WEEK1)[0] == []
    show("Tue: reviewers acted, the bot answered", gh, db, 1)

    # --- Thu: merged. The merged README is the truth for every paper.
    gh.merge_pull(REPO, 1)
    preview = CliRunner().invoke(cli, ["sync", "--dry-run"]).output  # which paper gets which outcome
    assert f"#1 {A1}: accepted in {WI}" in preview and f"#1 {A4}: rejected" in preview
    assert f"#1 {OWN}: added in {WI}" in preview
    out = run("2026-11-12")
    assert "no paper proposed" in out
    merged = {pid: (label, section) for pid, label, section, source in feedback(db) if source == "pr#1"}
    assert merged == {A1: ("accepted", WI), A2: ("accepted", WI), B1: ("accepted", WI), A3: ("moved", WI),
                      A6: ("moved", WI), A4: ("rejected", None), OWN: ("added", WI)}
    with Store(db) as store:
        statuses = dict(store.db.execute("SELECT paper_id, status FROM proposals").fetchall())
    assert statuses[A5] == "ignored" and statuses[OWN] == "reviewer"
    status = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)["acceptance"]
    assert (status["accepted"], status["moved"], status["rejected"], status["ignored"]) == (3, 2, 1, 1)
    gained, text = digest(db, WEEK1)
    assert gained == [  # sorted by section, then title; titles for the reviewer's own line too
        (OWN, "A reviewer's favourite soup", "added", WI),
        (A6, "Instruction fine-tuning with adapter tuning", "moved", WI),
        (A1, "Merging fine-tuned models by weight averaging", "accepted", WI),
        (A3, "Parameter-efficient fine-tuning with adapter tuning", "moved", WI),
        (A2, "Task arithmetic for model merging", "accepted", WI),
        (B1, "Weight averaging and model merging of fine-tuned models", "accepted", WI),
    ]
    assert "7 merged into the list" not in text and "6 merged into the list" in text
    assert A4 not in text.split("merged into the list")[1] and "favourite soup" in text
    show("Thu: PR #1 merged", gh, db, 1)

    # --- Week 2, Mon 16 Nov: a new PR; Tue a reviewer ticks C2's reject box; Wed the PR is closed.
    run("2026-11-16")
    assert [p["number"] for p in gh.pulls(REPO, "open")] == [2]
    assert {C1, C2} <= set(branch_sections(gh))
    pull = gh.pulls_by_repo[REPO][2]
    assert "- [ ] **Adapter tuning for full fine-tuning budgets**" in pull.body
    pull.body = pull.body.replace("- [ ] **Adapter tuning", "- [x] **Adapter tuning")  # one click in the body
    run("2026-11-17")
    assert C2 not in branch_sections(gh) and C1 in branch_sections(gh)
    assert gh.log(REPO, BRANCH)[0]["message"].startswith(f"lfmwatch: remove {C2}")
    assert (C2, "rejected", None, "checkbox#2") in feedback(db)
    assert "**1 paper**" in gh.pulls(REPO, "open")[0]["body"]  # the body no longer lists it
    show("Week 2: a reject box ticked", gh, db, 2)
    gh.close_pull(REPO, 2)
    run("2026-11-18")
    assert {(pid, label) for pid, label, _, source in feedback(db) if source == "pr#2"} == {(C1, "closed")}
    assert digest(db, WEEK2)[0] == [] and len(digest(db, WEEK1)[0]) == 6  # nothing merged in week 2
    show("Week 2: PR #2 closed", gh, db, 2)


def test_replayed_days_have_their_own_daily_cap(scenario: tuple[GitHubFake, Path]) -> None:
    gh, home = scenario
    with (home / "lfmwatch.toml").open("a") as fh:
        fh.write("[select]\nmax_per_run = 2\n")
    assert "proposed 2 paper" in run("2026-11-09")
    again = run("2026-11-09")  # the same logical day: its cap is spent, whatever the wall clock says
    assert "daily cap reached" in again and len(branch_sections(gh)) == 2 + 2
    assert "proposed 2 paper" in run("2026-11-10")  # the next replayed day has a cap of its own
    with Store(home / "state.db") as store:
        days = sorted(r[0][:10] for r in store.db.execute("SELECT proposed_at FROM proposals").fetchall())
    assert days == ["2026-11-09"] * 2 + ["2026-11-10"] * 2
    future = CliRunner().invoke(cli, ["run", "--until", "2999-01-01"])
    assert future.exit_code == 2 and "replays past days" in future.output
