"""What the bot does on a pull request's conversation and history when it answers reviewers (PyGithub, via
GitHubRepo's error translation): react to a comment, reply, list the PR's commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lfmwatch.adapters.github import GitHubRepo


@dataclass(frozen=True)
class CommitInfo:
    """One commit of a pull request: sha, parent shas, author login (or git name) and message."""

    sha: str
    parents: tuple[str, ...]
    author: str
    message: str


def react(repo: GitHubRepo, number: int, comment_id: int, content: str) -> None:
    """Put a reaction (+1, rocket, confused, eyes...) on a conversation comment (idempotent on GitHub)."""
    repo._call(f"react to comment {comment_id} of #{number}",
               lambda: repo.raw.get_issue(number).get_comment(comment_id).create_reaction(content))


def reply(repo: GitHubRepo, number: int, body: str) -> int:
    """Post a conversation comment on a pull request; its id."""
    return repo._call(f"comment on #{number}", lambda: int(repo.raw.get_issue(number).create_comment(body).id))


def pull_commits(repo: GitHubRepo, number: int) -> list[CommitInfo]:
    """The commits of a pull request, oldest first (also after it was merged)."""

    def run() -> list[CommitInfo]:
        out = []
        for c in repo.raw.get_pull(number).get_commits():
            login = c.author.login if c.author is not None else None
            out.append(CommitInfo(sha=str(c.sha), parents=tuple(str(p.sha) for p in c.parents),
                                  author=login or c.commit.author.name or "", message=c.commit.message or ""))
        return out

    return repo._call(f"list the commits of #{number}", run)
