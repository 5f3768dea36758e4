"""A heading renamed or removed upstream under an open PR: its papers are re-filed or reported, never lost."""

from __future__ import annotations

import json

from fakes.github_fake import GitHubFake
from lfmwatch.pr.branch import renamed_sections
from lfmwatch.pr.propose import propose
from lfmwatch.pr.sync import sync
from lfmwatch.store.db import Store
from propose_fixtures import AD, BRANCH, DAY1, FT, README, REPO, WI, make_config, seed, session_for

WA = "Model Reuse > Model Fusion > Weight Averaging"


def _statuses(store: Store) -> dict[str, tuple[str, str, int | None]]:
    return {r[0]: (r[1], r[2], r[3]) for r in store.db.execute(
        "SELECT paper_id, status, section, pr_number FROM proposals").fetchall()}


def _ids_on_branch(gh: GitHubFake) -> list[str]:
    text = gh.file(REPO, "README.md", BRANCH) or ""
    return sorted(pid for pid, *_ in DAY1 for _ in range(text.count(f"abs/{pid})")))


def test_a_renamed_heading_keeps_its_papers_in_the_pr(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    assert propose(store, cfg, session_for(gh)).created_pr
    gh.push_commit(REPO, "main", {"README.md": README.replace("#### Weight Interpolation", "#### Weight Averaging")})
    res = propose(store, cfg, session_for(gh))  # the base moved on: the bot re-applies its entries
    assert any("re-filed under" in e and WA in e for e in res.errors), res.errors
    text = gh.file(REPO, "README.md", BRANCH)
    assert _ids_on_branch(gh) == sorted(pid for pid, *_ in DAY1)  # nothing dropped
    assert "Weight Interpolation" not in text and text.index("2501.00001") > text.index("#### Weight Averaging")
    assert _statuses(store)["2501.00001"] == ("proposed", WA, 1)
    gh.merge_pull(REPO, 1)
    sync(store, cfg, session_for(gh))
    labels = dict(store.db.execute("SELECT paper_id, label FROM feedback").fetchall())
    assert labels == dict.fromkeys([pid for pid, *_ in DAY1], "accepted")


def test_a_removed_heading_refiles_by_prediction_or_reports(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    # 2501.00001's prediction ranks Adapter Tuning second; 2501.00003 (Fine Tuning) has no second choice.
    store.db.execute("UPDATE predictions SET sections = ? WHERE paper_id = '2501.00001'",
                     [json.dumps([[WI, 0.6], [AD, 0.3]])])
    assert propose(store, cfg, session_for(gh)).created_pr
    gone = README.replace("#### Weight Interpolation\n\n- [[arXiv](https://arxiv.org/abs/2203.05482)] Model soups: "
                          "averaging weights of multiple fine-tuned models\n\n", "")
    # Fine Tuning split in two: its entries went different ways, so no new home is evident.
    gone = gone.replace("#### Fine Tuning\n\n", "#### Full Tuning\n\n").replace(
        "\n- [[arXiv](https://arxiv.org/abs/2104.08691)]", "\n#### Prompt Tuning\n\n- [[arXiv](https://arxiv.org/abs/2104.08691)]")
    assert WI.split(" > ")[-1] not in gone and FT.split(" > ")[-1] not in gone
    gh.push_commit(REPO, "main", {"README.md": gone})
    res = propose(store, cfg, session_for(gh))
    text = gh.file(REPO, "README.md", BRANCH)
    assert "2501.00001" in text and "2501.00003" not in text and "2501.00002" in text
    assert any("2501.00003" in e and "kept out of the PR" in e for e in res.errors), res.errors
    rows = _statuses(store)
    assert rows["2501.00001"] == ("proposed", AD, 1) and rows["2501.00003"] == ("unfiled", FT, None)
    gh.merge_pull(REPO, 1)
    sync(store, cfg, session_for(gh))
    labels = dict(store.db.execute("SELECT paper_id, label FROM feedback").fetchall())
    assert "rejected" not in labels.values() and "2501.00003" not in labels


def test_sync_does_not_reject_a_paper_whose_section_vanished_in_the_merge(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    # A maintainer drops the whole Weight Interpolation section in the PR itself, then merges.
    gh.edit_file(REPO, BRANCH, "README.md", lambda t: t.split("#### Weight Interpolation")[0]
                 + "## Citation" + t.split("## Citation")[1])
    gh.merge_pull(REPO, 1)
    res = sync(store, cfg, session_for(gh))
    assert res.counts["unfiled"] == 1 and res.counts["rejected"] == 0
    assert _statuses(store)["2501.00001"][0] == "unfiled"


def test_renamed_sections_only_when_evident() -> None:
    from lfmwatch.awesome import parse_list

    old = parse_list(README, exclude=("Table of Contents", "Citation"))
    renamed = parse_list(README.replace("### Model Fusion", "### Model Merging"),
                         exclude=("Table of Contents", "Citation"))
    assert renamed_sections(old, renamed) == {WI: "Model Reuse > Model Merging > Weight Interpolation",
                                              "Model Reuse > Model Fusion": "Model Reuse > Model Merging"}
    two = parse_list(README.replace("#### Fine Tuning", "#### A").replace("#### Adapter Tuning", "#### B")
                     .replace("2008.03156", "2999.00001").replace("2104.08691", "2999.00002")
                     .replace("2106.09685", "2999.00003"), exclude=("Table of Contents", "Citation"))
    assert renamed_sections(old, two) == {}  # two gone, two new, no entry to tell which is which
