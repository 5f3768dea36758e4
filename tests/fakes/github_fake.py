"""A stateful GitHub REST fake on 127.0.0.1, good enough for PyGithub to drive the bot end to end.

Usage::

    with GitHubFake() as gh:                          # starts on a free port
        gh.add_token("t0k", login="lfmwatch-bot", push={"owner/list"})
        gh.create_repo("owner/list", {"README.md": text})       # default branch "main"
        monkeypatch.setenv("GITHUB_API_URL", gh.url)            # http://127.0.0.1:PORT/api/v3
        ... run the bot ...
        gh.pulls("owner/list")                                  # list of pull dicts (number, state, merged, head...)
        gh.file("owner/list", "README.md", "lfmwatch/papers")   # text at a branch or sha (None if missing)
        gh.log("owner/list", "lfmwatch/papers")                 # first-parent history, newest first
        gh.edit_file("owner/list", "lfmwatch/papers", "README.md", lambda t: t.replace(a, b), author="alice")
        gh.remove_line(...), gh.move_line(...)                  # reviewer edits (each one commit on the branch)
        gh.merge_pull("owner/list", 1)   gh.close_pull("owner/list", 1)   gh.comment("owner/list", 1, "/lfmwatch ...")
        gh.comments_on("owner/list", 1)   gh.reactions("owner/list", comment_id)   # the bot's replies and reactions
        gh.push_commit("owner/list", "main", {"README.md": new_text})   gh.delete_branch("owner/list", "lfmwatch/papers")
        gh.add_token("ro", "reader", push=False)                # a token that can read but not push
        gh.fail_next("POST", r"/pulls$", 502, times=2)          # inject failures for the next matching requests
        gh.fail_next("GET", r"/contents/", 403, rate_limit=True, reset_in=3600)
        gh.kill_at_write(3, "after", kill=lambda: os.kill(proc.pid, signal.SIGKILL))  # a crash at the 3rd write

Git objects live in one store shared by every repository (like a GitHub fork network), so forks
(`gh.fork("owner/list", "bot/list")`) see upstream commits. Shapes follow GitHub's published examples
(`@octokit/openapi`), with every `url` pointing at this server. Merges are three-way per file and use
`git merge-file` for text when both sides changed a file (409 when that conflicts). The git side (objects, refs,
contents, compare, merges) lives in fakes.github_fake_git; this module holds pulls, labels, comments and the server.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from fakes._loopback import LoopbackHTTPServer, QuietHandler
from fakes.github_fake_git import GitObjects, HTTPError, _now, blob_sha

__all__ = ["GitHubFake", "HTTPError", "blob_sha", "fast_settings"]

PREFIX = "/api/v3"


@dataclass
class Token:
    login: str
    push: set[str] | bool = True  # repos the token may write to (True: all)
    pulls: bool = True  # may open/edit pull requests
    installation: bool = False  # like Actions' GITHUB_TOKEN: repository JSON carries no `permissions`


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    message: str


@dataclass
class Pull:
    number: int
    repo: str
    title: str
    body: str
    head_repo: str
    head_ref: str
    base_ref: str
    user: str
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    frozen_head_sha: str | None = None  # head sha once closed (GitHub keeps refs/pull/N/head)
    labels: list[str] = field(default_factory=list)
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    closed_at: str | None = None
    merged_at: str | None = None
    id: int = 0


@dataclass
class Repo:
    full_name: str
    default_branch: str
    refs: dict[str, str] = field(default_factory=dict)  # branch -> commit sha
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    fork_of: str | None = None
    id: int = 0
    collaborators: set[str] = field(default_factory=set)
    reactions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue comment id -> reactions
    org: bool = False  # owned by an organization (GitHub then refuses maintainer_can_modify on PRs from it)


class GitHubFake(GitObjects):
    """The fake server and its state; see the module docstring for the API."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, dict[str, str]] = {}  # tree sha -> {path: blob sha} (flat)
        self.commits: dict[str, dict[str, Any]] = {}
        self.repos: dict[str, Repo] = {}
        self.pulls_by_repo: dict[str, dict[int, Pull]] = {}
        self.tokens: dict[str, Token] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self.writes = 0  # write requests (POST/PUT/PATCH/DELETE under /repos) served or attempted
        self.write_log: list[tuple[str, str]] = []  # (method, path) of every write, in order
        self._kill: tuple[int, str, Callable[[], None]] | None = None
        self.killed: tuple[int, str, str, str] | None = None  # (n, when, method, path) once the hook fired
        self._ids = itertools.count(1000)
        self._gen = itertools.count(1)
        self._http = LoopbackHTTPServer()

    # lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> GitHubFake:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._http.start(Handler, "github-fake")
        return self

    def stop(self) -> None:
        """Shut the server down."""
        self._http.stop()

    def __enter__(self) -> GitHubFake:
        return self.start() if not self._http.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """http://127.0.0.1:PORT"""
        assert self._http.running, "start() the fake first"
        return f"http://127.0.0.1:{self._http.port}"

    @property
    def url(self) -> str:
        """The API base URL to put in GITHUB_API_URL."""
        return self.host + PREFIX

    # seeding -------------------------------------------------------------------------------------------
    def add_token(self, token: str, login: str = "lfmwatch-bot", *, push: set[str] | bool = True,
                  pulls: bool = True, installation: bool = False) -> None:
        """Accept `token` as user `login`; `push` is True (all repos) or the set of repos it may write.

        `installation=True` mimics an app installation token: repositories are served without `permissions`.
        """
        self.tokens[token] = Token(login, push if isinstance(push, bool) else set(push), pulls, installation)

    def create_repo(self, full_name: str, files: dict[str, str], default_branch: str = "main",
                    author: str = "maintainer") -> str:
        """A repository whose default branch holds `files`; returns the initial commit sha."""
        with self.lock:
            sha = self._make_commit({}, files, [], "Initial commit", author)
            self.repos[full_name] = Repo(full_name, default_branch, {default_branch: sha}, id=next(self._ids))
            self.pulls_by_repo[full_name] = {}
            return sha

    def fork(self, upstream: str, full_name: str, *, org: bool = False) -> None:
        """A fork of `upstream` with the same branches (objects are shared); `org`: an organization owns it."""
        with self.lock:
            up = self.repos[upstream]
            self.repos[full_name] = Repo(full_name, up.default_branch, dict(up.refs), fork_of=upstream,
                                         id=next(self._ids), org=org)
            self.pulls_by_repo[full_name] = {}

    # inspection ----------------------------------------------------------------------------------------
    def branches(self, repo: str) -> dict[str, str]:
        """Branch name -> commit sha."""
        return dict(self.repos[repo].refs)

    def pulls(self, repo: str, state: str | None = None) -> list[dict[str, Any]]:
        """Pull requests as plain dicts (number, state, merged, title, body, head, head_sha, base, labels)."""
        with self.lock:
            out = []
            for p in self.pulls_by_repo[repo].values():
                if state and p.state != state:
                    continue
                out.append({"number": p.number, "state": p.state, "merged": p.merged, "title": p.title,
                            "body": p.body, "head": f"{p.head_repo.split('/')[0]}:{p.head_ref}",
                            "head_sha": self._pull_head_sha(p), "base": p.base_ref, "labels": list(p.labels),
                            "merge_commit_sha": p.merge_commit_sha})
            return out

    def label_names(self, repo: str) -> list[str]:
        """Labels defined on the repository."""
        return list(self.repos[repo].labels)

    def count(self, method: str, pattern: str) -> int:
        """How many requests matched (method, path regex)."""
        rx = re.compile(pattern)
        return sum(1 for m, p, _ in self.requests if m == method and rx.search(p))

    # reviewer / maintainer actions -----------------------------------------------------------------------
    def merge_pull(self, repo: str, number: int, method: str = "merge", by: str = "maintainer") -> str:
        """Merge a pull request ('merge' or 'squash'); returns the merge commit sha."""
        with self.lock:
            p = self.pulls_by_repo[repo][number]
            assert p.state == "open", "pull request is not open"
            sha = self._merge_refs(repo, p.base_ref, self._pull_head_sha(p), f"Merge pull request #{number}",
                                   by, squash=method == "squash")
            assert sha is not None
            p.frozen_head_sha = self._pull_head_sha(p)
            p.state, p.merged, p.merge_commit_sha = "closed", True, sha
            p.closed_at = p.merged_at = p.updated = _now()
            return sha

    def close_pull(self, repo: str, number: int) -> None:
        """Close a pull request without merging."""
        with self.lock:
            p = self.pulls_by_repo[repo][number]
            p.frozen_head_sha = self._pull_head_sha(p)
            p.state, p.closed_at, p.updated = "closed", _now(), _now()

    def delete_branch(self, repo: str, branch: str) -> None:
        """Delete a branch (as GitHub's "delete head branch after merge"); open PRs from it are closed."""
        with self.lock:
            for pulls in self.pulls_by_repo.values():
                for p in pulls.values():
                    if p.head_repo == repo and p.head_ref == branch and p.state == "open":
                        p.frozen_head_sha = self._pull_head_sha(p)
                        p.state, p.closed_at, p.updated = "closed", _now(), _now()
            del self.repos[repo].refs[branch]

    def comment(self, repo: str, number: int, body: str, user: str = "maintainer",
                association: str = "OWNER") -> int:
        """Add an issue comment; `association` is GitHub's author_association (OWNER, COLLABORATOR, NONE...)."""
        with self.lock:
            cid = next(self._ids)
            self.repos[repo].comments.setdefault(number, []).append(
                {"id": cid, "user": user, "body": body, "association": association, "created": _now()})
            return cid

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The conversation comments of an issue/PR (id, user, body, association), oldest first."""
        with self.lock:
            return [dict(c) for c in self.repos[repo].comments.get(number, [])]

    def reactions(self, repo: str, comment_id: int) -> list[tuple[str, str]]:
        """(user, content) of the reactions on an issue comment, in the order they were made."""
        with self.lock:
            return [(x["user"], x["content"]) for x in self.repos[repo].reactions.get(comment_id, [])]

    def fail_next(self, method: str, path_pattern: str, status: int, *, times: int = 1, rate_limit: bool = False,
                  reset_in: int = 3600, retry_after: int | None = None, message: str | None = None) -> None:
        """The next `times` requests matching (method, path regex) answer `status` before doing anything.

        `rate_limit=True` makes it a primary rate-limit 403 (X-RateLimit-Remaining: 0, reset in `reset_in` s).
        """
        headers: dict[str, str] = {}
        if rate_limit:
            headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Used": "5000",
                       "X-RateLimit-Reset": str(int(time.time()) + reset_in), "X-RateLimit-Resource": "core"}
            message = message or "API rate limit exceeded for user ID 1."
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        default = {409: "Conflict", 422: "Validation Failed", 403: "Forbidden"}.get(status, "Server Error")
        self.faults.append(Fault(method.upper(), re.compile(path_pattern), status, times, headers,
                                 message or default))

    # pull internals --------------------------------------------------------------------------------------
    def kill_at_write(self, n: int, when: str, kill: Callable[[], None]) -> None:
        """Call `kill` at the `n`-th write request (1-based): `before` it is applied or `after` it is applied.

        Meant to SIGKILL a client process at that exact point: its request never gets an answer (before: the
        write did not happen; after: it happened, the client never learns). The hook fires once.
        """
        assert when in ("before", "after")
        self._kill = (n, when, kill)

    def _pull_head_sha(self, p: Pull) -> str:
        if p.frozen_head_sha:
            return p.frozen_head_sha
        return self.repos[p.head_repo].refs.get(p.head_ref) or ""

    # JSON shapes (after GitHub's examples) ---------------------------------------------------------------
    def _user(self, login: str) -> dict[str, Any]:
        uid = int(hashlib.sha1(login.encode()).hexdigest()[:6], 16)
        return {"login": login, "id": uid, "node_id": f"U_{uid}", "type": "User", "site_admin": False,
                "url": f"{self.url}/users/{login}", "html_url": f"{self.host}/{login}",
                "avatar_url": f"{self.host}/avatars/{login}"}

    def _repo_json(self, r: Repo, token: Token | None) -> dict[str, Any]:
        owner, name = r.full_name.split("/")
        push = bool(token and (token.push is True or (isinstance(token.push, set) and r.full_name in token.push)))
        data = {"id": r.id, "node_id": f"R_{r.id}", "name": name, "full_name": r.full_name, "private": False,
                "owner": self._user(owner), "html_url": f"{self.host}/{r.full_name}", "fork": r.fork_of is not None,
                "url": f"{self.url}/repos/{r.full_name}", "default_branch": r.default_branch,
                "pulls_url": f"{self.url}/repos/{r.full_name}/pulls{{/number}}",
                "permissions": {"admin": False, "maintain": False, "push": push, "triage": push, "pull": True},
                "created_at": "2023-01-01T00:00:00Z", "updated_at": _now(), "pushed_at": _now()}
        if token is not None and token.installation:
            del data["permissions"]
        if r.fork_of:
            data["parent"] = data["source"] = self._repo_json(self.repos[r.fork_of], token)
        return data

    def _label_json(self, repo: str, lbl: dict[str, Any]) -> dict[str, Any]:
        return {"id": lbl["id"], "node_id": f"L_{lbl['id']}", "url": f"{self.url}/repos/{repo}/labels/{lbl['name']}",
                "name": lbl["name"], "description": lbl.get("description"), "color": lbl["color"], "default": False}

    def _pull_json(self, p: Pull, token: Token | None) -> dict[str, Any]:
        base = f"{self.url}/repos/{p.repo}"
        head_sha = self._pull_head_sha(p)
        head_owner = p.head_repo.split("/")[0]
        base_owner = p.repo.split("/")[0]
        return {
            "url": f"{base}/pulls/{p.number}", "id": p.id, "node_id": f"PR_{p.id}",
            "html_url": f"{self.host}/{p.repo}/pull/{p.number}", "diff_url": f"{self.host}/{p.repo}/pull/{p.number}.diff",
            "patch_url": f"{self.host}/{p.repo}/pull/{p.number}.patch", "issue_url": f"{base}/issues/{p.number}",
            "commits_url": f"{base}/pulls/{p.number}/commits", "comments_url": f"{base}/issues/{p.number}/comments",
            "number": p.number, "state": p.state, "locked": False, "title": p.title, "body": p.body,
            "user": self._user(p.user), "labels": [self._label_json(p.repo, self.repos[p.repo].labels[n])
                                                   for n in p.labels if n in self.repos[p.repo].labels],
            "created_at": p.created, "updated_at": p.updated, "closed_at": p.closed_at, "merged_at": p.merged_at,
            "merge_commit_sha": p.merge_commit_sha, "draft": False, "merged": p.merged, "mergeable": None,
            "author_association": "NONE", "maintainer_can_modify": True,
            "head": {"label": f"{head_owner}:{p.head_ref}", "ref": p.head_ref, "sha": head_sha,
                     "user": self._user(head_owner), "repo": self._repo_json(self.repos[p.head_repo], token)},
            "base": {"label": f"{base_owner}:{p.base_ref}", "ref": p.base_ref,
                     "sha": self.repos[p.repo].refs.get(p.base_ref, ""), "user": self._user(base_owner),
                     "repo": self._repo_json(self.repos[p.repo], token)},
        }

    # request handling ------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, body: Any, token: Token | None) -> tuple[int, Any, dict[str, str]]:
        """Route one request; returns (status, JSON, extra headers)."""
        parsed = urlparse(raw_path)
        path = unquote(parsed.path)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        if not path.startswith(PREFIX):
            raise HTTPError(404, "Not Found")
        path = path[len(PREFIX):] or "/"
        for f in self.faults:
            if f.times > 0 and f.method == method and f.pattern.search(path):
                f.times -= 1
                raise HTTPError(f.status, f.message, headers=f.headers)
        self.faults = [f for f in self.faults if f.times > 0]
        if token is None:
            raise HTTPError(401, "Bad credentials")
        if path == "/user" and method == "GET":
            return 200, self._user(token.login), {}
        m = re.match(r"^/repos/([^/]+/[^/]+)(/.*)?$", path)
        if not m or m.group(1) not in self.repos:
            raise HTTPError(404, "Not Found")
        repo, rest = m.group(1), m.group(2) or ""
        r = self.repos[repo]
        for rmethod, pattern, name in _ROUTES:
            mm = re.match(pattern, rest)
            if mm and rmethod == method:
                if name in _WRITES and not (token.push is True or (isinstance(token.push, set) and repo in token.push)):
                    raise HTTPError(403, "Resource not accessible by integration")
                if name in _PULL_WRITES and not token.pulls:
                    raise HTTPError(403, "Resource not accessible by integration")
                if method != "GET":
                    return self._write(name, method, path, (repo, r, mm, query, body, token))
                return getattr(self, "_h_" + name)(repo, r, mm, query, body, token)
        raise HTTPError(404, "Not Found")

    def _write(self, name: str, method: str, path: str, args: tuple[Any, ...]) -> tuple[int, Any, dict[str, str]]:
        """A write request, through the kill hook (see kill_at_write)."""
        self.writes += 1
        self.write_log.append((method, path))
        hook = self._kill
        if hook is not None and hook[0] == self.writes:
            self._kill = None
            self.killed = (hook[0], hook[1], method, path)
            if hook[1] == "before":
                hook[2]()
                raise HTTPError(502, "client killed before this write")
        out = getattr(self, "_h_" + name)(*args)
        if hook is not None and hook[0] == self.writes and hook[1] == "after":
            hook[2]()
        return out

    def _h_repo(self, repo, r, m, q, body, token):
        return 200, self._repo_json(r, token), {}

    def _h_list_pulls(self, repo, r, m, q, body, token):
        out = []
        for p in sorted(self.pulls_by_repo[repo].values(), key=lambda p: -p.number):
            state = q.get("state", "open")
            if state != "all" and p.state != state:
                continue
            if q.get("base") and p.base_ref != q["base"]:
                continue
            if q.get("head"):
                owner, _, ref = q["head"].partition(":")
                if p.head_ref != ref or p.head_repo.split("/")[0] != owner:
                    continue
            data = self._pull_json(p, token)
            for k in ("merged", "mergeable"):  # not part of the list representation on GitHub
                data.pop(k)
            out.append(data)
        return 200, out, {}

    def _h_create_pull(self, repo, r, m, q, body, token):
        head, base = body.get("head", ""), body.get("base", "")
        owner, _, ref = head.rpartition(":")
        head_repo = repo if not owner or owner == repo.split("/")[0] else next(
            (n for n in self.repos if n.split("/")[0] == owner and self.repos[n].fork_of == repo), None)
        errors = []
        if base not in r.refs:
            errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if head_repo is None or ref not in self.repos[head_repo].refs:
            errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
        if errors:
            raise HTTPError(422, "Validation Failed", errors)
        for p in self.pulls_by_repo[repo].values():
            if p.state == "open" and p.head_repo == head_repo and p.head_ref == ref and p.base_ref == base:
                raise HTTPError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                "message": f"A pull request already exists for {head_repo.split('/')[0]}:{ref}."}])
        if body.get("maintainer_can_modify") and head_repo != repo and self.repos[head_repo].org:
            raise HTTPError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                            "message": "Fork collab can't be granted by someone without permission"}])
        head_sha = self.repos[head_repo].refs[ref]
        if head_sha in self._ancestors(r.refs[base]):
            raise HTTPError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                            "message": f"No commits between {base} and {ref}"}])
        number = max([0, *self.pulls_by_repo[repo], *self.repos[repo].comments]) + 1
        p = Pull(number, repo, body.get("title", ""), body.get("body") or "", head_repo, ref, base, token.login,
                 id=next(self._ids))
        self.pulls_by_repo[repo][number] = p
        return 201, self._pull_json(p, token), {}

    def _pull(self, repo: str, number: str) -> Pull:
        p = self.pulls_by_repo[repo].get(int(number))
        if p is None:
            raise HTTPError(404, "Not Found")
        return p

    def _h_get_pull(self, repo, r, m, q, body, token):
        return 200, self._pull_json(self._pull(repo, m.group(1)), token), {}

    def _h_update_pull(self, repo, r, m, q, body, token):
        p = self._pull(repo, m.group(1))
        for k in ("title", "body"):
            if k in body:
                setattr(p, k, body[k] or "")
        if body.get("state") in ("open", "closed"):
            if body["state"] == "closed" and p.state == "open":
                p.frozen_head_sha = self._pull_head_sha(p)
                p.closed_at = _now()
            p.state = body["state"]
        p.updated = _now()
        return 200, self._pull_json(p, token), {}

    def _h_get_label(self, repo, r, m, q, body, token):
        lbl = r.labels.get(m.group(1))
        if lbl is None:
            raise HTTPError(404, "Not Found")
        return 200, self._label_json(repo, lbl), {}

    def _h_create_label(self, repo, r, m, q, body, token):
        name = body.get("name", "")
        if name in r.labels:
            raise HTTPError(422, "Validation Failed", [{"resource": "Label", "code": "already_exists",
                                                        "field": "name"}])
        r.labels[name] = {"id": next(self._ids), "name": name, "color": body.get("color", "ededed"),
                          "description": body.get("description")}
        return 201, self._label_json(repo, r.labels[name]), {}

    def _h_add_labels(self, repo, r, m, q, body, token):
        p = self._pull(repo, m.group(1))
        names = body if isinstance(body, list) else body.get("labels", [])
        for n in names:
            if n not in r.labels:  # GitHub creates unknown labels on the fly here
                r.labels[n] = {"id": next(self._ids), "name": n, "color": "ededed", "description": None}
            if n not in p.labels:
                p.labels.append(n)
        return 200, [self._label_json(repo, r.labels[n]) for n in p.labels], {}

    def _h_get_issue(self, repo, r, m, q, body, token):
        p = self._pull(repo, m.group(1))
        data = self._pull_json(p, token)
        data["url"] = f"{self.url}/repos/{repo}/issues/{p.number}"
        data["pull_request"] = {"url": f"{self.url}/repos/{repo}/pulls/{p.number}"}
        data["comments"] = len(r.comments.get(p.number, []))
        return 200, data, {}

    def _h_list_comments(self, repo, r, m, q, body, token):
        n = int(m.group(1))
        out = [{"id": c["id"], "node_id": f"IC_{c['id']}", "url": f"{self.url}/repos/{repo}/issues/comments/{c['id']}",
                "html_url": f"{self.host}/{repo}/pull/{n}#issuecomment-{c['id']}", "body": c["body"],
                "user": self._user(c["user"]), "created_at": c["created"], "updated_at": c["created"],
                "issue_url": f"{self.url}/repos/{repo}/issues/{n}", "author_association": c["association"]}
               for c in r.comments.get(n, [])]
        return 200, out, {}

    def _h_get_comment(self, repo, r, m, q, body, token):
        for n, comments in r.comments.items():
            for c in comments:
                if c["id"] == int(m.group(1)):
                    fake_m = re.match(r"(\d+)", str(n))
                    return 200, next(x for x in self._h_list_comments(repo, r, fake_m, q, body, token)[1]
                                     if x["id"] == c["id"]), {}
        raise HTTPError(404, "Not Found")

    def _h_create_comment(self, repo, r, m, q, body, token):
        n = int(m.group(1))
        cid = self.comment(repo, n, body.get("body", ""), token.login, "NONE")
        return 201, next(c for c in self._h_list_comments(repo, r, m, q, body, token)[1] if c["id"] == cid), {}

    def _reaction_json(self, x: dict[str, Any]) -> dict[str, Any]:
        return {"id": x["id"], "node_id": f"REA_{x['id']}", "user": self._user(x["user"]), "content": x["content"],
                "created_at": x["created"]}

    def _find_comment(self, r: Repo, cid: int) -> dict[str, Any]:
        for comments in r.comments.values():
            for c in comments:
                if c["id"] == cid:
                    return c
        raise HTTPError(404, "Not Found")

    def _h_list_reactions(self, repo, r, m, q, body, token):
        cid = int(m.group(1))
        self._find_comment(r, cid)
        return 200, [self._reaction_json(x) for x in r.reactions.get(cid, [])], {}

    def _h_create_reaction(self, repo, r, m, q, body, token):
        cid = int(m.group(1))
        self._find_comment(r, cid)
        content = body.get("content")
        if content not in ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"):
            raise HTTPError(422, "Validation Failed", [{"resource": "Reaction", "field": "content",
                                                        "code": "invalid"}])
        mine = r.reactions.setdefault(cid, [])
        for x in mine:  # GitHub answers 200 with the existing reaction when the user already reacted so
            if x["user"] == token.login and x["content"] == content:
                return 200, self._reaction_json(x), {}
        x = {"id": next(self._ids), "user": token.login, "content": content, "created": _now()}
        mine.append(x)
        return 201, self._reaction_json(x), {}

    def _h_pull_commits(self, repo, r, m, q, body, token):
        p = self._pull(repo, m.group(1))
        head = self._pull_head_sha(p)
        if p.merged and p.merge_commit_sha:
            base = self.commits[p.merge_commit_sha]["parents"][0]
        else:
            base = r.refs.get(p.base_ref, "")
        own = self._ancestors(head) - (self._ancestors(base) if base else set())
        ordered = sorted(own, key=lambda s: self.commits[s]["gen"])
        return 200, [self._commit_json(p.head_repo, s) for s in ordered], {}


_ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"^$", "repo"),
    ("GET", r"^/git/refs?/(heads/.+)$", "get_ref"),
    ("POST", r"^/git/refs$", "create_ref"),
    ("PATCH", r"^/git/refs?/(heads/.+)$", "update_ref"),
    ("GET", r"^/contents/(.+)$", "get_contents"),
    ("PUT", r"^/contents/(.+)$", "put_contents"),
    ("GET", r"^/compare/(.+?)\.\.\.(.+)$", "compare"),
    ("POST", r"^/merges$", "merge"),
    ("GET", r"^/git/commits/([0-9a-f]+)$", "get_git_commit"),
    ("GET", r"^/git/trees/([0-9a-f]+)$", "get_tree"),
    ("POST", r"^/git/trees$", "create_tree"),
    ("POST", r"^/git/commits$", "create_git_commit"),
    ("GET", r"^/pulls$", "list_pulls"),
    ("POST", r"^/pulls$", "create_pull"),
    ("GET", r"^/pulls/(\d+)$", "get_pull"),
    ("PATCH", r"^/pulls/(\d+)$", "update_pull"),
    ("GET", r"^/labels/(.+)$", "get_label"),
    ("POST", r"^/labels$", "create_label"),
    ("GET", r"^/issues/(\d+)$", "get_issue"),
    ("POST", r"^/issues/(\d+)/labels$", "add_labels"),
    ("GET", r"^/issues/(\d+)/comments$", "list_comments"),
    ("POST", r"^/issues/(\d+)/comments$", "create_comment"),
    ("GET", r"^/issues/comments/(\d+)$", "get_comment"),
    ("GET", r"^/issues/comments/(\d+)/reactions$", "list_reactions"),
    ("POST", r"^/issues/comments/(\d+)/reactions$", "create_reaction"),
    ("GET", r"^/pulls/(\d+)/commits$", "pull_commits"),
]
_WRITES = {"create_ref", "update_ref", "put_contents", "merge", "create_tree", "create_git_commit", "create_label"}
_PULL_WRITES = {"create_pull", "update_pull", "add_labels", "create_comment", "create_reaction"}




class _Handler(QuietHandler):
    fake: GitHubFake
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid 40 ms delayed-ACK stalls

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        auth = self.headers.get("Authorization") or ""
        token = self.fake.tokens.get(auth.split(" ", 1)[1]) if " " in auth else None
        headers: dict[str, str] = {}
        try:
            with self.fake.lock:
                status, data, headers = self.fake.handle(self.command, self.path, copy.deepcopy(body), token)
        except HTTPError as e:
            status, headers = e.status, e.headers
            data = {"message": e.message, "documentation_url": "https://docs.github.com/rest",
                    "status": str(e.status)}
            if e.errors:
                data["errors"] = e.errors
        except Exception as e:  # a bug in the fake: make it visible as a 500 with the reason
            status, data = 500, {"message": f"fake error: {type(e).__name__}: {e}"}
        self.fake.requests.append((self.command, urlparse(self.path).path.removeprefix(PREFIX), status))
        payload = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        for k, v in {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


def fast_settings(fake: GitHubFake, token: str, *, retries: int = 2) -> Any:
    """GitHubSettings for tests: the fake's URL, no throttling, small retries and backoff, short rate-limit wait."""
    from lfmwatch.adapters.github import GitHubSettings

    return GitHubSettings(api_url=fake.url, token=token, timeout=10, retries=retries, backoff_factor=0.01,
                          max_rate_limit_wait=3, secondary_rate_wait=0.1, seconds_between_requests=0,
                          seconds_between_writes=0)
