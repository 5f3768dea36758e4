"""The narrow GitHub adapter (PyGithub): branches, one file, commits, pull requests, labels, comments.

Everything the bot does on GitHub goes through `GitHubRepo`; errors come out as `GitHubError` (or its
`ConflictError` subclass for "someone moved the branch/file under us", which callers retry) with a hint that
says how to recover. `github` is imported inside functions only, so importing this module costs nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

from lfmwatch.errors import GitHubError

log = logging.getLogger(__name__)
T = TypeVar("T")

PUSH_HINT = (
    "give the token write access to the repository's contents (fine-grained token: 'Contents: Read and write' "
    "and 'Pull requests: Read and write'; classic token: 'public_repo'/'repo' scope; GitHub Actions: "
    "'permissions: contents: write, pull-requests: write'), or set target.fork to a fork the token can push to"
)


class ConflictError(GitHubError):
    """The branch or file changed between our read and our write (409, or a non-fast-forward ref update)."""


class PermissionDenied(GitHubError):
    """The token lacks a permission (403 without rate limit, or 404 on a write)."""


@dataclass
class GitHubSettings:
    """How to reach GitHub: endpoint, token, timeout, retries and politeness."""

    api_url: str = "https://api.github.com"
    token: str | None = field(default=None, repr=False)  # a secret: never in reprs, logs or tracebacks
    timeout: int = 20
    retries: int = 4
    backoff_factor: float = 1.0
    max_rate_limit_wait: float = 300.0
    secondary_rate_wait: float = 60.0
    seconds_between_requests: float | None = None  # None: PyGithub's polite default (0 on loopback)
    seconds_between_writes: float | None = None

    @classmethod
    def from_config(cls, config: Any) -> GitHubSettings:
        """Settings from the configuration (GITHUB_API_URL) and the GITHUB_TOKEN environment variable."""
        from lfmwatch.config import secret

        return cls(api_url=config.github_api_url, token=secret("GITHUB_TOKEN"))


@dataclass(frozen=True)
class FileContent:
    """A file at a ref: its text and blob sha (what the contents API wants back as `sha`)."""

    text: str
    sha: str


@dataclass(frozen=True)
class PullInfo:
    """What the bot needs to know about one pull request."""

    number: int
    state: str  # open | closed
    merged: bool
    title: str
    body: str
    url: str  # html_url
    head_ref: str
    head_sha: str
    head_owner: str
    base_ref: str
    merge_commit_sha: str | None
    created: str | None
    updated: str | None
    closed_at: str | None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommentInfo:
    """One issue comment on a pull request."""

    id: int
    user: str
    body: str
    association: str  # OWNER | MEMBER | COLLABORATOR | CONTRIBUTOR | NONE ...
    created: str | None


@dataclass(frozen=True)
class Comparison:
    """`base...head`: how far apart, their merge base, files touched and commit authors on the head side."""

    ahead_by: int
    behind_by: int
    merge_base_sha: str
    files: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()  # the head side's commit messages, oldest first


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def _is_loopback(url: str) -> bool:
    return (urlparse(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


NOT_MINE = object()  # an `expected` handler's answer for an HTTP error that is a real failure


def _absent(exc: Any) -> Any:
    """404 means 'not there' (None); anything else is a failure."""
    return None if exc.status == 404 else NOT_MINE


def _conflict(statuses: tuple[int, ...], message: str) -> Callable[[Any], Any]:
    """An `expected` handler that turns these statuses into ConflictError(message)."""

    def handle(exc: Any) -> Any:
        if exc.status in statuses:
            raise ConflictError(message) from exc
        return NOT_MINE

    return handle


def _translate(exc: Exception, what: str, repo: str) -> GitHubError:
    """Map a PyGithub/requests failure to an LfmwatchError whose hint says how to recover."""
    from github import GithubException, RateLimitExceededException
    from github.GithubException import BadCredentialsException, RateLimitExceededExceedsMaxWait

    if isinstance(exc, RateLimitExceededExceedsMaxWait | RateLimitExceededException) or (
        isinstance(exc, GithubException) and exc.status in (403, 429) and _rate_limited(exc)
    ):
        reset = (getattr(exc, "headers", None) or {}).get("X-RateLimit-Reset") or "?"
        return GitHubError(
            f"GitHub rate limit exhausted while trying to {what} on {repo}",
            f"wait for the limit to reset (epoch {reset}) and rerun; nothing was lost",
        )
    if isinstance(exc, BadCredentialsException) or (isinstance(exc, GithubException) and exc.status == 401):
        return GitHubError(
            f"GitHub rejected the token while trying to {what} on {repo} (401 bad credentials)",
            "set GITHUB_TOKEN to a valid, unexpired token",
        )
    if isinstance(exc, GithubException):
        message = _message(exc)
        if exc.status == 403:
            return PermissionDenied(f"GitHub refused to {what} on {repo}: {message} (403)", PUSH_HINT)
        if exc.status == 404:
            return GitHubError(
                f"GitHub cannot {what} on {repo}: not found (404)",
                "check target.repo / target.fork / target.readme, and that the token can see the repository",
            )
        if exc.status == 409:
            return ConflictError(f"conflict while trying to {what} on {repo}: {message} (409)", "rerun lfmwatch")
        if exc.status == 422:
            return GitHubError(
                f"GitHub did not accept the request to {what} on {repo}: {message} (422)",
                "check the branch and repository settings in lfmwatch.toml",
            )
        if exc.status >= 500:
            return GitHubError(
                f"GitHub failed to {what} on {repo} ({exc.status}) after retries",
                "GitHub is having trouble; rerun later (the bot resumes where it stopped)",
            )
        return GitHubError(f"GitHub refused to {what} on {repo}: {message} ({exc.status})")
    if type(exc).__name__ == "RetryError":  # requests: urllib3 gave up after the bounded retries
        reason = str(exc).rsplit("Caused by ", 1)[-1].strip("()'\"")
        return GitHubError(
            f"GitHub failed to {what} on {repo} after retries ({reason})",
            "GitHub is having trouble; rerun later (the bot resumes where it stopped)",
        )
    return GitHubError(
        f"cannot reach GitHub to {what} on {repo}: {type(exc).__name__}: {exc}",
        "check the network and GITHUB_API_URL, then rerun (the bot resumes where it stopped)",
    )


def _message(exc: Any) -> str:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        msg = str(data.get("message") or "")
        errors = data.get("errors")
        if errors:
            msg += " " + "; ".join(str(e.get("message") if isinstance(e, dict) else e) for e in errors)
        return msg.strip() or "no message"
    return str(data or exc)


def _rate_limited(exc: Any) -> bool:
    headers = getattr(exc, "headers", None) or {}
    return str(headers.get("X-RateLimit-Remaining", headers.get("x-ratelimit-remaining", ""))) == "0" or (
        "rate limit" in _message(exc).lower()
    )


@dataclass
class GitHubSession:
    """An authenticated PyGithub client with timeouts and bounded, backed-off retries."""

    settings: GitHubSettings
    _gh: Any = field(default=None, repr=False)
    _repos: dict[str, GitHubRepo] = field(default_factory=dict, repr=False)

    @property
    def gh(self) -> Any:
        """The PyGithub `Github` object (created on first use)."""
        if self._gh is None:
            import github
            from github import Auth, GithubRetry

            s = self.settings
            if not s.token:
                raise GitHubError(
                    "GITHUB_TOKEN is not set",
                    "export GITHUB_TOKEN=<a token with contents and pull-requests write access>, "
                    "or use `lfmwatch propose --readme PATH` to edit a local copy instead",
                )
            # Throttling is politeness towards api.github.com; a loopback server (tests, proxies) needs none.
            loop = _is_loopback(s.api_url)
            between = s.seconds_between_requests if s.seconds_between_requests is not None else (0 if loop else 0.25)
            writes = s.seconds_between_writes if s.seconds_between_writes is not None else (0 if loop else 1.0)
            retry = GithubRetry(
                total=s.retries,
                backoff_factor=s.backoff_factor,
                max_rate_limit_wait=s.max_rate_limit_wait,
                secondary_rate_wait=s.secondary_rate_wait,
                # PATCH/PUT of our writes are idempotent given the sha they carry; retry them too.
                allowed_methods=frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}),
            )
            self._gh = github.Github(
                auth=Auth.Token(s.token),
                base_url=s.api_url.rstrip("/"),
                timeout=s.timeout,
                retry=retry,
                seconds_between_requests=between,
                seconds_between_writes=writes,
            )
        return self._gh

    def repo(self, full_name: str) -> GitHubRepo:
        """The repository `owner/name` (fetched once)."""
        if full_name not in self._repos:
            raw = self.call("read the repository", full_name, lambda: self.gh.get_repo(full_name))
            self._repos[full_name] = GitHubRepo(self, raw, full_name)
        return self._repos[full_name]

    def call(self, what: str, repo: str, fn: Callable[[], T], expected: Callable[[Any], Any] | None = None) -> T:
        """Run one PyGithub operation, translating failures into GitHubError.

        `expected(exc)` handles the HTTP errors that are answers, not failures (404: not there; 409/422: someone
        else moved first): it returns the operation's result, raises (ConflictError), or returns NOT_MINE.
        """
        from github import GithubException

        try:
            return fn()
        except GithubException as exc:
            if expected is not None:
                result = expected(exc)
                if result is not NOT_MINE:
                    return cast(T, result)
            raise _translate(exc, what, repo) from exc
        except (OSError, ValueError) as exc:  # requests' ConnectionError/Timeout/RetryError are OSErrors
            raise _translate(exc, what, repo) from exc

    def close(self) -> None:
        """Release the HTTP connection pool."""
        if self._gh is not None:
            self._gh.close()
            self._gh = None


def connect(settings: GitHubSettings) -> GitHubSession:
    """A session for these settings (no network until first use)."""
    return GitHubSession(settings)


class GitHubRepo:
    """One repository, with only the operations lfmwatch needs."""

    def __init__(self, session: GitHubSession, raw: Any, full_name: str) -> None:
        self.session = session
        self.raw = raw
        self.full_name = raw.full_name or full_name
        self.owner = self.full_name.split("/")[0]

    def _call(self, what: str, fn: Callable[[], T], expected: Callable[[Any], Any] | None = None) -> T:
        return self.session.call(what, self.full_name, fn, expected)

    # repository --------------------------------------------------------------------------------------
    @property
    def default_branch(self) -> str:
        """The repository's default branch."""
        return str(self.raw.default_branch)

    @property
    def can_push(self) -> bool:
        """Whether the token may push here, per the repository's `permissions` (True when GitHub omits them).

        Installation tokens (GitHub Actions' GITHUB_TOKEN) may get no `permissions` object: then we try, and a
        refused write surfaces as PermissionDenied naming the missing permission.
        """
        perms = self.raw.raw_data.get("permissions")
        if not isinstance(perms, dict):
            return True
        return bool(perms.get("push") or perms.get("admin") or perms.get("maintain"))

    # branches ----------------------------------------------------------------------------------------
    def branch_sha(self, branch: str) -> str | None:
        """The commit a branch points at, or None when it does not exist."""
        return self._call(f"read branch {branch}", lambda: str(self.raw.get_git_ref(f"heads/{branch}").object.sha),
                          _absent)

    def create_branch(self, branch: str, sha: str) -> None:
        """Create `branch` at `sha` (409/422 'already exists' surfaces as ConflictError: re-read and retry)."""

        def exists(exc: Any) -> Any:
            if exc.status == 422 and "exist" in _message(exc).lower():
                raise ConflictError(f"branch {branch} appeared on {self.full_name} while lfmwatch was working") from exc
            return NOT_MINE

        self._call(f"create branch {branch}", lambda: self.raw.create_git_ref(f"refs/heads/{branch}", sha), exists)

    def move_branch(self, branch: str, sha: str, *, force: bool = False) -> None:
        """Point `branch` at `sha`; without force, GitHub refuses anything but a fast-forward."""

        def run() -> None:
            ref = self.raw.get_git_ref(f"heads/{branch}")
            _ = ref.object  # complete the lazy ref so that it PATCHes its canonical git/refs URL
            ref.edit(sha, force=force)

        self._call(f"update branch {branch}", run, _conflict((409, 422),
                   f"branch {branch} moved on {self.full_name} while lfmwatch was working"))

    # files -------------------------------------------------------------------------------------------
    def read_file(self, path: str, ref: str) -> FileContent | None:
        """The text of `path` at `ref` (branch or sha), or None when the file is not there."""
        content = self._call(f"read {path} at {ref}", lambda: self.raw.get_contents(path, ref=ref), _absent)
        if content is None:
            return None
        if isinstance(content, list):
            raise GitHubError(f"{path} is a directory on {self.full_name}", "set target.readme to the list's file")
        return FileContent(content.decoded_content.decode("utf-8"), str(content.sha))

    def put_file(self, path: str, branch: str, text: str, message: str, sha: str) -> str:
        """Commit `text` as `path` on top of `branch` (contents API with the blob `sha` we read); new commit sha."""
        res = self._call(f"commit {path} to {branch}",
                         lambda: self.raw.update_file(path, message, text.encode("utf-8"), sha, branch=branch),
                         _conflict((409,), f"{path} on {branch} changed while lfmwatch was editing it"))
        return str(res["commit"].sha)

    def commit_merge(
        self, branch: str, parents: list[str], base_commit: str, files: dict[str, str], message: str
    ) -> str:
        """A commit with `parents` whose tree is `base_commit`'s with `files` replaced; fast-forward `branch` to it."""
        from github import InputGitTreeElement

        def run() -> str:
            base = self.raw.get_git_commit(base_commit)
            elements = [InputGitTreeElement(p, "100644", "blob", content=t) for p, t in files.items()]
            tree = self.raw.create_git_tree(elements, base_tree=base.tree)
            parent_objs = [self.raw.get_git_commit(p) for p in parents]
            return str(self.raw.create_git_commit(message, tree, parent_objs).sha)

        sha = self._call(f"write a commit for {branch}", run)
        self.move_branch(branch, sha, force=False)
        return sha

    def merge_into(self, branch: str, head: str, message: str) -> str | None:
        """Server-side merge of `head` into `branch`; None when already up to date; ConflictError on conflicts."""
        commit = self._call(f"merge {head} into {branch}", lambda: self.raw.merge(branch, head, message),
                            _conflict((409,), f"merging {head} into {branch} conflicts"))
        return None if commit is None else str(commit.sha)

    def compare(self, base: str, head: str) -> Comparison:
        """How `head` relates to `base` (both shas or branch names of this repository)."""

        def run() -> Comparison:
            c = self.raw.compare(base, head)
            authors = []
            for commit in c.commits:
                login = commit.author.login if commit.author is not None else None
                authors.append(login or commit.commit.author.name)
            return Comparison(
                ahead_by=int(c.ahead_by),
                behind_by=int(c.behind_by),
                merge_base_sha=str(c.merge_base_commit.sha),
                files=tuple(f.filename for f in c.files),
                authors=tuple(authors),
                messages=tuple(str(commit.commit.message or "") for commit in c.commits),
            )

        return self._call(f"compare {base}...{head}", run)

    # pull requests -----------------------------------------------------------------------------------
    def find_pulls(self, head: str, state: str = "open", base: str | None = None) -> list[PullInfo]:
        """Pull requests whose head is `owner:branch`, newest first."""
        kwargs: dict[str, Any] = {"state": state, "head": head, "sort": "created", "direction": "desc"}
        if base:
            kwargs["base"] = base
        return self._call(
            f"list pull requests from {head}", lambda: [_pull(p) for p in self.raw.get_pulls(**kwargs)]
        )

    def get_pull(self, number: int) -> PullInfo:
        """One pull request, complete (merged flag, merge commit)."""
        return self._call(f"read pull request #{number}", lambda: _pull(self.raw.get_pull(number)))

    def create_pull(self, title: str, body: str, head: str, base: str) -> PullInfo:
        """Open a pull request from `head` (`owner:branch`) into `base`.

        From a fork, maintainers are allowed to edit the branch; GitHub refuses that for organization-owned forks
        (422 "Fork collab can't be granted"), and then the PR is opened without it.
        """
        what = f"open a pull request from {head} into {base}"
        cross = head.split(":", 1)[0] != self.owner

        def no_fork_collab(exc: Any) -> Any:
            return None if cross and exc.status == 422 and "fork collab" in _message(exc).lower() else NOT_MINE

        pull = self._call(what, lambda: _pull(self.raw.create_pull(
            base=base, head=head, title=title, body=body, maintainer_can_modify=cross)), no_fork_collab)
        if pull is not None:
            return pull
        return self._call(what, lambda: _pull(self.raw.create_pull(
            base=base, head=head, title=title, body=body, maintainer_can_modify=False)))

    def update_pull(self, number: int, *, title: str | None = None, body: str | None = None) -> None:
        """Change a pull request's title and/or body."""
        kwargs = {k: v for k, v in (("title", title), ("body", body)) if v is not None}
        self._call(f"update pull request #{number}", lambda: self.raw.get_pull(number).edit(**kwargs))

    def comments(self, number: int) -> list[CommentInfo]:
        """The conversation comments of a pull request, oldest first."""

        def run() -> list[CommentInfo]:
            return [
                CommentInfo(
                    id=int(c.id),
                    user=c.user.login if c.user else "",
                    body=c.body or "",
                    association=str(c.author_association or "NONE"),
                    created=_iso(c.created_at),
                )
                for c in self.raw.get_issue(number).get_comments()
            ]

        return self._call(f"read comments of #{number}", run)

    # labels ------------------------------------------------------------------------------------------
    def ensure_labels(self, names: list[str], *, color: str = "0e8a16") -> None:
        """Create the labels that do not exist yet (check first; 'already exists' is fine)."""
        for name in names:
            if self._call(f"read label {name!r}", functools.partial(self.raw.get_label, name), _absent) is not None:
                continue
            # 422 already_exists: someone created it in between
            self._call(f"create label {name!r}",
                       functools.partial(self.raw.create_label, name, color, "Papers proposed by lfmwatch"),
                       lambda exc: None if exc.status == 422 else NOT_MINE)

    def add_labels(self, number: int, names: list[str]) -> None:
        """Put labels on a pull request (adding is idempotent on GitHub)."""
        if names:
            self._call(f"label #{number}", lambda: self.raw.get_issue(number).add_to_labels(*names))


def _pull(p: Any) -> PullInfo:
    head = p.head
    head_owner = (head.repo.owner.login if head.repo is not None else None) or (head.label or ":").split(":")[0]
    return PullInfo(
        number=int(p.number),
        state=str(p.state),
        merged=bool(p.merged),
        title=p.title or "",
        body=p.body or "",
        url=p.html_url or "",
        head_ref=head.ref,
        head_sha=head.sha,
        head_owner=head_owner,
        base_ref=p.base.ref,
        merge_commit_sha=p.merge_commit_sha,
        created=_iso(p.created_at),
        updated=_iso(p.updated_at),
        closed_at=_iso(p.closed_at),
        labels=tuple(lbl.name for lbl in p.labels),
    )
