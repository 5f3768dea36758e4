"""End to end: propose against the GitHub fake through the real PyGithub."""

from __future__ import annotations

import pytest

from fakes.github_fake import GitHubFake
from lfmwatch.pr.propose import propose
from lfmwatch.store.db import Store, utcnow
from lfmwatch.textsafe import md_inline
from propose_fixtures import (
    BRANCH,
    DAY1,
    DAY2,
    HOSTILE,
    README,
    REPO,
    TOKEN,
    make_config,
    rendered_links,
    seed,
    session_for,
)


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
    store.db.execute("UPDATE proposals SET proposed_at = '2025-01-01T00:00:00+00:00'")  # an earlier day's run
    store.db.execute("UPDATE pull_requests SET updated = '2025-01-01T00:00:00+00:00'")
    before = [list(store.db[t].rows) for t in ("proposals", "pull_requests", "feedback")]
    again = propose(store, cfg, session_for(gh))
    assert [list(store.db[t].rows) for t in ("proposals", "pull_requests", "feedback")] == before  # idempotent
    assert again.status == "nothing" and again.pr_number == 1
    assert "blocked 3" in again.reason and again.proposed == [] and again.commit is None
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


def test_reviewer_commit_is_kept_and_bot_builds_on_top(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    fixed = gh.edit_file(REPO, BRANCH, "README.md", lambda t: t.replace("Sparse adapters for everyone",
                                                                        "Sparse Adapters for Everyone"),
                         author="alice")
    gh.push_commit(REPO, BRANCH, {"NOTES.md": "reviewer notes\n"}, author="alice")
    seed(store, DAY2)
    res = propose(store, cfg, session_for(gh))
    assert res.status == "updated" and len(gh.pulls(REPO)) == 1
    log = gh.log(REPO, BRANCH)
    assert log[0]["author"] == "lfmwatch-bot" and log[1]["author"] == "alice" and log[2]["sha"] == fixed
    text = gh.file(REPO, "README.md", BRANCH)
    assert "Sparse Adapters for Everyone" in text and "2501.00004" in text and "2501.00005" in text
    assert gh.file(REPO, "NOTES.md", BRANCH) == "reviewer notes\n"


def test_concurrent_push_between_read_and_write_is_retried(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    seed(store, DAY2)
    gh.fail_next("PUT", r"/contents/README\.md$", 409, message="README.md does not match")
    res = propose(store, cfg, session_for(gh))
    assert res.status == "updated" and sorted(res.proposed) == ["2501.00004", "2501.00005"]
    assert gh.count("PUT", r"/contents/README\.md$") == 3  # day 1, the 409, the redo


def test_base_readme_moved_on_entries_reapplied(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    # A maintainer appends an entry at the end of the same section on main: a textual conflict for git.
    gh.edit_file(REPO, "main", "README.md", lambda t: t.replace(
        "- [[arXiv](https://arxiv.org/abs/2203.05482)] Model soups: averaging weights of multiple fine-tuned models\n",
        "- [[arXiv](https://arxiv.org/abs/2203.05482)] Model soups: averaging weights of multiple fine-tuned models\n"
        "\n- [[arXiv](https://arxiv.org/abs/2212.04089)] Editing models with task arithmetic\n"), author="maintainer")
    seed(store, DAY2)
    res = propose(store, cfg, session_for(gh))
    assert res.status == "updated" and "re-applied" in res.reason
    main_text = gh.file(REPO, "README.md", "main")
    text = gh.file(REPO, "README.md", BRANCH)
    assert "2212.04089" in text and all(p[0] in text for p in DAY1 + DAY2)
    assert [ln for ln in text.splitlines() if ln not in main_text.splitlines() and ln.strip()] == [
        ln for ln in text.splitlines() if "2501.0000" in ln]
    head = gh.log(REPO, BRANCH)[0]
    assert len(head["parents"]) == 2  # a merge of main: nothing on the branch was rewritten
    gh.merge_pull(REPO, 1)  # and the PR merges cleanly
    assert gh.file(REPO, "README.md", "main") == text


def test_base_moved_with_reviewer_edit_merges_server_side(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    gh.edit_file(REPO, BRANCH, "README.md", lambda t: t.replace("Intro text", "Intro words"), author="alice")
    gh.edit_file(REPO, "main", "README.md", lambda t: t.replace("Please cite us.", "Please cite us, thanks."))
    seed(store, DAY2)
    res = propose(store, cfg, session_for(gh))
    text = gh.file(REPO, "README.md", BRANCH)
    assert res.status == "updated" and "Intro words" in text and "thanks." in text and "2501.00005" in text


def test_token_without_push_rights_and_fork_mode(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError

    gh.add_token("read-only", "reader", push=False)
    seed(store, DAY1)
    with pytest.raises(GitHubError) as err:
        propose(store, make_config(), session_for(gh, "read-only"))
    assert "contents: write" in str(err.value) and "target.fork" in str(err.value)
    assert gh.pulls(REPO) == [] and store.db["proposals"].count == 0
    gh.fork(REPO, "reader/awesome")
    gh.add_token("fork-token", "reader", push={"reader/awesome"})
    res = propose(store, make_config(fork="reader/awesome"), session_for(gh, "fork-token"))
    assert res.created_pr and gh.pulls(REPO)[0]["head"] == f"reader:{BRANCH}"
    assert BRANCH in gh.branches("reader/awesome") and BRANCH not in gh.branches(REPO)
    assert "2501.00001" in gh.file("reader/awesome", "README.md", BRANCH)


def test_fork_owned_by_an_organization(gh: GitHubFake, store: Store) -> None:
    # GitHub refuses "allow edits by maintainers" on PRs from organization-owned forks (422 "Fork collab ...").
    gh.fork(REPO, "lab/awesome", org=True)
    gh.add_token("org-token", "lab-bot", push={"lab/awesome"})
    seed(store, DAY1)
    res = propose(store, make_config(fork="lab/awesome"), session_for(gh, "org-token"))
    assert res.created_pr and gh.pulls(REPO)[0]["head"] == f"lab:{BRANCH}" and len(gh.pulls(REPO)) == 1


def test_transient_failures_are_retried(gh: GitHubFake, store: Store) -> None:
    seed(store, DAY1)
    gh.fail_next("GET", r"/contents/README\.md$", 502, times=2)
    gh.fail_next("POST", r"/pulls$", 503)
    gh.fail_next("GET", r"/pulls$", 403, rate_limit=True, reset_in=0)
    res = propose(store, make_config(), session_for(gh, retries=3))
    assert res.created_pr and len(gh.pulls(REPO)) == 1


def test_persistent_failures_give_clear_errors(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError

    seed(store, DAY1)
    gh.fail_next("GET", r"/contents/", 500, times=10)
    with pytest.raises(GitHubError, match=r"GitHub failed to read README.md.*after retries"):
        propose(store, make_config(), session_for(gh, retries=1))
    gh.faults.clear()
    gh.fail_next("GET", r"^/repos/lfm/awesome$", 403, rate_limit=True, reset_in=3600)
    with pytest.raises(GitHubError, match="rate limit"):
        propose(store, make_config(), session_for(gh))
    gh.faults.clear()
    gh.fail_next("POST", r"/git/refs$", 422, message="Reference update failed")
    with pytest.raises(GitHubError, match="422"):
        propose(store, make_config(), session_for(gh))
    assert gh.pulls(REPO) == []
    res = propose(store, make_config(), session_for(gh))  # the fault is gone: the run completes
    assert res.created_pr


def test_killed_between_commit_and_pr_then_rerun(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError

    seed(store, DAY1)
    gh.fail_next("POST", r"/pulls$", 500, times=20)
    with pytest.raises(GitHubError):
        propose(store, make_config(), session_for(gh, retries=1))
    assert gh.pulls(REPO) == [] and "2501.00001" in gh.file(REPO, "README.md", BRANCH)
    assert {r["status"] for r in store.db["proposals"].rows} == {"selected"}
    gh.faults.clear()
    seed(store, DAY2)
    res = propose(store, make_config(), session_for(gh))
    assert res.created_pr and len(gh.pulls(REPO)) == 1
    text = gh.file(REPO, "README.md", BRANCH)
    for pid, *_ in DAY1 + DAY2:
        assert text.count(f"abs/{pid})") == 1
    assert {r["status"] for r in store.db["proposals"].rows} == {"proposed"}
    assert store.db["proposals"].count == 5


def test_killed_after_pr_created_before_recording(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError

    seed(store, DAY1)
    gh.fail_next("POST", r"/pulls$", 502)
    with pytest.raises(GitHubError):
        propose(store, make_config(), session_for(gh, retries=0))
    # The dead run's PR request did reach GitHub after all (the 502 came from a proxy): the PR exists.
    gh_pr = session_for(gh).repo(REPO).create_pull("x", "y", f"lfm:{BRANCH}", "main")
    res = propose(store, make_config(), session_for(gh))
    assert res.pr_number == gh_pr.number and len(gh.pulls(REPO)) == 1
    assert {r["status"] for r in store.db["proposals"].rows} == {"proposed"}
    assert "Task arithmetic" in gh.pulls(REPO)[0]["body"]


def test_hostile_titles_render_inert(gh: GitHubFake, store: Store) -> None:
    seed(store, HOSTILE)
    propose(store, make_config(), session_for(gh))
    text = gh.file(REPO, "README.md", BRANCH)
    body = gh.pulls(REPO)[0]["body"]
    lines = [ln for ln in text.splitlines() if "2501.0001" in ln]
    assert len(lines) == 2
    for blob in (body, "\n".join(lines)):
        hrefs, html = rendered_links(blob)
        assert all(h.startswith("https://arxiv.org/abs/2501.0001") for h in hrefs) and len(hrefs) >= 2
        assert not [h for h in html if "<img" in h or "<script" in h]
        assert "@octocat" not in blob and "#123" not in blob  # word joiners split mentions and references
    assert all(ln.startswith("- [[arXiv](https://arxiv.org/abs/2501.0001") for ln in lines)
    assert "\nfoo" not in body


def test_caps_summaries_and_stranded_selection(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError
    from lfmwatch.pr.propose import propose_to_github, select_for_pr

    cfg = make_config()
    cfg.select.max_per_run, cfg.select.max_per_pr = 2, 3
    seed(store, DAY1 + DAY2)
    store.db["summaries"].insert({"paper_id": "2501.00001", "model": "m", "prompt_version": "1", "status": "ok",
                                  "summary": "Adds task vectors <b>safely</b>.", "created": utcnow()})
    chosen, counts = select_for_pr(store, cfg, session_for(gh))
    assert [c["id"] for c in chosen] == ["2501.00001", "2501.00004"] and counts["over_cap"] == 3
    gh.fail_next("POST", r"/pulls$", 500, times=20)
    with pytest.raises(GitHubError):
        propose_to_github(store, cfg, session_for(gh, retries=0), chosen)
    gh.faults.clear()
    cfg.select.max_per_run = 0  # nothing new may be selected, yet the stranded commit must reach a PR
    chosen, counts = select_for_pr(store, cfg, session_for(gh))
    assert counts["stranded"] == 2 and {c["id"] for c in chosen} == {"2501.00001", "2501.00004"}
    res = propose_to_github(store, cfg, session_for(gh), chosen)
    assert res.created_pr and res.proposed == [] and len(res.papers) == 2
    body = gh.pulls(REPO)[0]["body"]
    assert "Adds task vectors \\<b\\>safely\\</b\\>." in body  # the LLM summary is the gist
    cfg.select.max_per_run = 5
    res = propose(store, cfg, session_for(gh))
    assert len(res.proposed) == 1 and res.skipped["over_cap"] == 2  # the PR is at its cap of 3
    res = propose(store, cfg, session_for(gh))
    assert res.status == "nothing" and res.skipped["pr_full"] == 1


def test_closed_pr_branch_with_later_commits_is_not_reset(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError

    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    gh.close_pull(REPO, 1)
    gh.push_commit(REPO, BRANCH, {"IDEAS.md": "keep me\n"}, author="alice")
    seed(store, DAY2)
    with pytest.raises(GitHubError, match="will not overwrite") as err:
        propose(store, cfg, session_for(gh))
    assert "delete the branch" in str(err.value) and gh.file(REPO, "IDEAS.md", BRANCH) == "keep me\n"


def test_write_refused_despite_push_flag_names_permission(gh: GitHubFake, store: Store) -> None:
    # A fine-grained token of a user with push rights but without "Contents: write": GitHub says 403 on write.
    from lfmwatch.errors import GitHubError

    seed(store, DAY1)
    gh.fail_next("POST", r"/git/refs$", 403, message="Resource not accessible by personal access token")
    with pytest.raises(GitHubError) as err:
        propose(store, make_config(), session_for(gh))
    assert "403" in str(err.value) and "Contents: Read and write" in str(err.value)
    assert gh.pulls(REPO) == []


def test_installation_token_without_permissions_field(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError

    seed(store, DAY1)
    gh.add_token("actions-ro", "github-actions[bot]", push=False, installation=True)
    with pytest.raises(GitHubError) as err:  # no `permissions` to check first: the refused write names it
        propose(store, make_config(), session_for(gh, "actions-ro"))
    assert "403" in str(err.value) and "contents: write" in str(err.value)
    gh.add_token("actions", "github-actions[bot]", push={REPO}, installation=True)
    assert propose(store, make_config(), session_for(gh, "actions")).created_pr


def test_token_never_in_reprs_or_errors(gh: GitHubFake, store: Store) -> None:
    from lfmwatch.errors import GitHubError

    session = session_for(gh)
    assert TOKEN not in repr(session) and TOKEN not in repr(session.settings)
    gh.fail_next("GET", r"/contents/", 500, times=10)
    seed(store, DAY1)
    with pytest.raises(GitHubError) as err:
        propose(store, make_config(), session_for(gh, retries=0))
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value)
