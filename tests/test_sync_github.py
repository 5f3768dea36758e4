"""Learning from the review: merge with removals and moves, close, comment commands, un-ignore."""

from __future__ import annotations

import pytest

from fakes.github_fake import GitHubFake
from lfmwatch.pr.propose import propose
from lfmwatch.pr.sync import sync
from lfmwatch.store.db import Store
from lfmwatch.store.ledger import acceptance_by_section, blocked_ids, feedback_labels, unignore_paper
from propose_fixtures import AD, DAY1, DAY2, FT, REPO, WI, make_config, seed, session_for

BRANCH = "lfmwatch/papers"


def statuses(store: Store) -> dict[str, str]:
    return {r["paper_id"]: r["status"] for r in store.db["proposals"].rows}


def test_merge_with_removed_and_moved_entries(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    # Reviewer: remove 2501.00002 (Adapter Tuning), move 2501.00003 from Fine Tuning to Adapter Tuning, merge.
    gh.remove_line(REPO, BRANCH, "2501.00002", author="alice")
    gh.move_line(REPO, BRANCH, "2501.00003", "Adapter Tuning", author="alice")
    assert sync(store, cfg, session_for(gh)).counts["accepted"] == 0  # open PR: nothing final yet
    res_open = sync(store, cfg, session_for(gh))
    assert res_open.pending[0]["removed"] == ["2501.00002"]
    assert res_open.pending[0]["moved"] == [("2501.00003", AD)]
    gh.merge_pull(REPO, 1)
    res = sync(store, cfg, session_for(gh))
    assert res.counts["accepted"] == 1 and res.counts["moved"] == 1 and res.counts["rejected"] == 1
    assert statuses(store) == {"2501.00001": "accepted", "2501.00002": "rejected", "2501.00003": "moved"}
    labels = {r["id"]: r for r in feedback_labels(store)}
    assert labels["2501.00001"]["section"] == WI and labels["2501.00001"]["label"] == "accepted"
    assert labels["2501.00003"]["section"] == AD and labels["2501.00003"]["proposed_section"] == FT
    assert labels["2501.00002"]["label"] == "rejected" and labels["2501.00002"]["section"] is None
    assert store.db["pull_requests"].get(1)["state"] == "merged"
    rows = store.db["feedback"].count
    again = sync(store, cfg, session_for(gh))  # idempotent
    assert store.db["feedback"].count == rows and not again.pulls
    by = {r["section"]: r for r in acceptance_by_section(store)}
    assert by[FT]["moved"] == 1 and by[AD]["rejected"] == 1 and by[WI]["rate"] == 1.0
    # Next run starts a fresh PR from the merged base; the rejected paper never comes back.
    seed(store, DAY2)
    nxt = propose(store, cfg, session_for(gh))
    assert nxt.created_pr and nxt.pr_number == 2 and sorted(nxt.proposed) == ["2501.00004", "2501.00005"]
    text = gh.file(REPO, "README.md", BRANCH)
    assert "2501.00002" not in text and text.count("2501.00003") == 1
    assert len(gh.pulls(REPO, "open")) == 1


def test_closed_pr_decides_all_and_never_again(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    gh.close_pull(REPO, 1)
    res = sync(store, cfg, session_for(gh))
    assert res.counts["closed"] == 3 and res.counts["rejected"] == 0
    assert set(statuses(store).values()) == {"rejected"}
    assert {p for p in blocked_ids(store)} >= {p[0] for p in DAY1}
    again = propose(store, cfg, session_for(gh))
    assert again.status == "nothing" and "blocked 3" in again.reason
    assert len(gh.pulls(REPO)) == 1
    # New papers: a fresh PR from a branch reset to base (the closed PR's commits stay under PR #1).
    seed(store, DAY2)
    nxt = propose(store, cfg, session_for(gh))
    assert nxt.created_pr and nxt.pr_number == 2
    text = gh.file(REPO, "README.md", BRANCH)
    assert all(p[0] not in text for p in DAY1) and all(p[0] in text for p in DAY2)
    # Explicit un-ignore lets one rejected paper come back.
    assert unignore_paper(store, "2501.00001")
    back = propose(store, cfg, session_for(gh))
    assert back.proposed == ["2501.00001"] and back.pr_number == 2


def test_comment_commands(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    ok = gh.comment(REPO, 1, "Thanks!\n/lfmwatch ignore 2501.00002\n/lfmwatch move 2501.00003 Adapter Tuning")
    refused = gh.comment(REPO, 1, "/lfmwatch ignore 2501.00001", user="drive-by", association="NONE")
    typo = gh.comment(REPO, 1, "/lfmwatch move 2501.00001 Adaptor Tuning")
    res = sync(store, cfg, session_for(gh))
    assert res.counts["commands"] == 2 and res.counts["unauthorized"] == 1 and res.counts["unknown"] == 1
    assert statuses(store)["2501.00002"] == "ignored" and statuses(store)["2501.00001"] == "proposed"
    labels = {r["id"]: r for r in feedback_labels(store)}
    assert labels["2501.00003"]["label"] == "moved" and labels["2501.00003"]["section"] == AD
    assert labels["2501.00002"]["label"] == "ignored"
    # The commands acted on the branch, each comment with a commit of its own, and the bot answered every comment.
    text = gh.file(REPO, "README.md", BRANCH)
    assert "2501.00002" not in text and "2501.00001" in text
    assert text.index("2501.00003") < text.index("## Model Reuse") and text.index("2501.00003") > text.index(
        "#### Adapter Tuning")
    assert gh.log(REPO, BRANCH)[0]["message"].startswith(
        "lfmwatch: remove 2501.00002; move 2501.00003 to Model Tuning > Weight Enginerring > Adapter Tuning")
    assert gh.reactions(REPO, ok) == [("lfmwatch-bot", "+1"), ("lfmwatch-bot", "rocket")]
    assert gh.reactions(REPO, refused) == [] and gh.reactions(REPO, typo) == [("lfmwatch-bot", "confused")]
    replies = [c["body"].replace("\\", "") for c in gh.comments_on(REPO, 1) if c["user"] == "lfmwatch-bot"]
    assert len(replies) == 2
    assert "drive-by cannot steer lfmwatch" in replies[0]
    assert "unknown section 'Adaptor Tuning'" in replies[1] and "Model Tuning > Weight Enginerring > Adapter" in \
        replies[1] and "/lfmwatch move ARXIV_ID SECTION" in replies[1]
    assert not any(ln.lstrip().startswith("/lfmwatch") for r in replies for ln in r.splitlines())
    n, heads = store.db["feedback"].count, gh.branches(REPO)[BRANCH]
    again = sync(store, cfg, session_for(gh))  # answered once: nothing recorded, edited or said twice
    assert again.counts["commands"] == 0 and store.db["feedback"].count == n and not again.answers
    assert gh.branches(REPO)[BRANCH] == heads and len(gh.comments_on(REPO, 1)) == 5
    # Merged: the README is the truth. The ignored paper's line is gone and it stays ignored (never "rejected" by
    # the merge, never accepted); the moved one is learned in the section its line is in.
    gh.merge_pull(REPO, 1)
    final = sync(store, cfg, session_for(gh))
    assert final.counts["accepted"] == 1 and final.counts["moved"] == 1 and final.counts["rejected"] == 0
    labels = {r["id"]: r for r in feedback_labels(store)}
    assert labels["2501.00002"]["label"] == "ignored"
    assert labels["2501.00003"]["label"] == "moved" and labels["2501.00003"]["section"] == AD
    assert labels["2501.00003"]["proposed_section"] == FT and labels["2501.00003"]["source"] == "pr#1"
    assert statuses(store) == {"2501.00001": "accepted", "2501.00002": "ignored", "2501.00003": "moved"}
    assert ("#1 2501.00003: moved in " + AD) in final.details()


def test_line_moved_in_the_file_beats_a_move_command(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    gh.comment(REPO, 1, "/lfmwatch move 2501.00003 Weight Interpolation")
    gh.move_line(REPO, BRANCH, "2501.00003", "Adapter Tuning", author="alice")
    gh.merge_pull(REPO, 1)
    res = sync(store, cfg, session_for(gh))
    assert res.counts["moved"] == 1 and res.counts["accepted"] == 2
    labels = {r["id"]: r for r in feedback_labels(store)}
    assert labels["2501.00003"]["label"] == "moved" and labels["2501.00003"]["section"] == AD


def test_squash_merge_and_deleted_head_branch(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    gh.merge_pull(REPO, 1, method="squash")
    gh.delete_branch(REPO, BRANCH)
    seed(store, DAY2)
    nxt = propose(store, cfg, session_for(gh))  # before sync: PR #1's papers are still blocked as proposed
    assert nxt.created_pr and nxt.pr_number == 2 and sorted(nxt.proposed) == ["2501.00004", "2501.00005"]
    res = sync(store, cfg, session_for(gh))
    assert res.counts["accepted"] == 3 and statuses(store)["2501.00004"] == "proposed"


def test_merged_pr_then_run_killed_between_commit_and_pr(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError

    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    gh.merge_pull(REPO, 1)  # a merge commit: PR #1's head is now an ancestor of main
    sync(store, cfg, session_for(gh))
    seed(store, DAY2)
    gh.fail_next("POST", r"/pulls$", 500, times=20)
    with pytest.raises(GitHubError):
        propose(store, cfg, session_for(gh, retries=0))
    assert "2501.00004" in gh.file(REPO, "README.md", BRANCH) and len(gh.pulls(REPO)) == 1
    gh.faults.clear()
    res = propose(store, cfg, session_for(gh))  # the branch is main + the bot's commit: reuse it, open PR #2
    assert res.created_pr and res.pr_number == 2 and len(gh.pulls(REPO, "open")) == 1
    text = gh.file(REPO, "README.md", BRANCH)
    assert all(text.count(f"abs/{p[0]})") == 1 for p in DAY1 + DAY2)
    assert statuses(store)["2501.00004"] == "proposed" and statuses(store)["2501.00005"] == "proposed"


def test_commit_pushed_after_the_reset_decision_is_never_force_pushed_over(gh: GitHubFake, store: Store,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import lfmwatch.pr.branch as proposing
    from lfmwatch.errors import GitHubError

    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    gh.close_pull(REPO, 1)
    seed(store, DAY2)
    real, pushed = proposing._fresh_start, []

    def racing(*args, **kwargs):  # a reviewer pushes between the bot's read and its write
        plan = real(*args, **kwargs)
        if not pushed:
            pushed.append(gh.push_commit(REPO, BRANCH, {"IDEAS.md": "keep me\n"}, author="alice"))
        return plan

    monkeypatch.setattr(proposing, "_fresh_start", racing)
    with pytest.raises(GitHubError, match="will not overwrite"):
        propose(store, cfg, session_for(gh))
    assert gh.file(REPO, "IDEAS.md", BRANCH) == "keep me\n" and gh.log(REPO, BRANCH)[0]["sha"] == pushed[0]


def test_pr_opened_then_labels_fail_still_records_its_papers(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError

    cfg = make_config()
    seed(store, DAY1)
    gh.fail_next("GET", r"/labels/", 500, times=20)
    with pytest.raises(GitHubError):
        propose(store, cfg, session_for(gh, retries=0))
    assert len(gh.pulls(REPO)) == 1
    assert set(statuses(store).values()) == {"proposed"}  # the PR exists: its papers are recorded in it
    gh.faults.clear()
    gh.close_pull(REPO, 1)  # rejected before the next run could repair anything
    assert sync(store, cfg, session_for(gh)).counts["closed"] == 3
    again = propose(store, cfg, session_for(gh))
    assert again.status == "nothing" and len(gh.pulls(REPO)) == 1


def test_pr_rows_lost_from_the_store_are_found_again_with_a_fork_configured(gh: GitHubFake, store: Store) -> None:
    cfg = make_config(fork="reader/awesome")  # configured, but this token may push to the list itself
    gh.fork(REPO, "reader/awesome")
    seed(store, DAY1)
    assert propose(store, cfg, session_for(gh)).created_pr and gh.pulls(REPO)[0]["head"] == f"lfm:{BRANCH}"
    store.db["pull_requests"].delete_where()  # e.g. a run whose state.db was not committed back
    gh.close_pull(REPO, 1)
    res = sync(store, cfg, session_for(gh))
    assert res.counts["closed"] == 3 and set(statuses(store).values()) == {"rejected"}


def test_closed_pr_papers_the_store_lost_are_not_proposed_again(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    for table in ("proposals", "pull_requests"):  # that day's state.db was never committed back
        store.db[table].delete_where()
    gh.close_pull(REPO, 1)
    seed(store, DAY2)
    nxt = propose(store, cfg, session_for(gh))  # the daily run proposes before it syncs
    assert nxt.created_pr and nxt.pr_number == 2 and sorted(nxt.proposed) == ["2501.00004", "2501.00005"]
    assert all(p[0] not in gh.file(REPO, "README.md", BRANCH) for p in DAY1)
    res = sync(store, cfg, session_for(gh))
    assert res.counts["closed"] == 3
    assert {pid: st for pid, st in statuses(store).items() if pid in {p[0] for p in DAY1}} == {
        p[0]: "rejected" for p in DAY1}
