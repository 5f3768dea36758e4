"""The bot's branch is its own: the base branch, an empty name or somebody else's branch are refused up front."""

from __future__ import annotations

import pytest

from fakes.github_fake import GitHubFake
from lfmwatch.config import config_from_dict
from lfmwatch.errors import ConfigError
from lfmwatch.pr.propose import propose
from lfmwatch.store.db import Store
from propose_fixtures import DAY1, REPO, make_config, seed, session_for


@pytest.mark.parametrize("target", [{"branch": ""}, {"branch": "  "}, {"branch": "main", "base_branch": "main"},
                                    {"branch": "a..b"}, {"branch": "-x"}, {"branch": "x y"}])
def test_config_refuses_a_branch_that_is_not_the_bots_own(target: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="target.branch"):
        config_from_dict({"target": {"repo": REPO, **target}})


@pytest.mark.parametrize("target", [{"branch": "main"}, {"branch": "dev", "base_branch": "dev"}])
def test_the_base_or_default_branch_is_refused_before_any_write(gh: GitHubFake, store: Store,
                                                                 target: dict[str, str]) -> None:
    if target.get("base_branch") == "dev":
        gh.push_commit(REPO, "dev", {"NOTE.md": "dev\n"}, author="maintainer")
        cfg = make_config(branch="main")  # base "dev" is fine, but main is the repository's default branch
    else:
        cfg = make_config(**target)
    seed(store, DAY1)
    before = gh.branches(REPO)
    with pytest.raises(ConfigError, match="would commit straight to it"):
        propose(store, cfg, session_for(gh))
    assert gh.writes == 0 and gh.branches(REPO) == before and gh.pulls(REPO) == []
    assert store.db["proposals"].count == 0


def test_somebody_elses_branch_is_refused_before_any_write(gh: GitHubFake, store: Store) -> None:
    gh.push_commit(REPO, "feature", {"IDEAS.md": "mine\n"}, author="alice")
    seed(store, DAY1)
    before = gh.branches(REPO)
    with pytest.raises(ConfigError, match="not the bot's branch"):
        propose(store, make_config(branch="feature"), session_for(gh))
    assert gh.writes == 0 and gh.branches(REPO) == before


def test_a_bare_branch_at_base_is_taken_over(gh: GitHubFake, store: Store) -> None:
    # What a run killed right after creating its branch leaves behind: no commit of anybody's on it.
    gh.repos[REPO].refs["lfmwatch/papers"] = gh.branches(REPO)["main"]
    seed(store, DAY1)
    assert propose(store, make_config(), session_for(gh)).created_pr
