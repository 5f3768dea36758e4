"""The git side of the GitHub fake: one object store (blobs, flat trees, commits) shared by every repository,
refs, the contents API, compare, merges and the git database endpoints, plus the test helpers that read or
commit on a branch. `GitHubFake` (fakes.github_fake) mixes this in; import the fake from there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def blob_sha(data: bytes) -> str:
    """The git blob id of `data` (what GitHub returns as a file's `sha`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HTTPError(Exception):
    """An error response the fake sends."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers or {}


class GitObjects:
    """Mixin for GitHubFake: expects `lock`, `repos`, `blobs`, `trees`, `commits`, `_gen`, `url`, `host`, `_user`."""

    # inspection of git data (test helpers) ------------------------------------------------------------------
    def resolve(self, repo: str, ref: str) -> str | None:
        """Commit sha of a branch name or sha (None when unknown)."""
        with self.lock:
            r = self.repos[repo]
            if ref.startswith("refs/heads/"):
                ref = ref[len("refs/heads/"):]
            if ref in r.refs:
                return r.refs[ref]
            if ref in self.commits:
                return ref
            matches = [s for s in self.commits if len(ref) >= 7 and s.startswith(ref)]
            return matches[0] if len(matches) == 1 else None

    def file(self, repo: str, path: str, ref: str | None = None) -> str | None:
        """Text of `path` at a branch or sha (default branch when None)."""
        with self.lock:
            sha = self.resolve(repo, ref or self.repos[repo].default_branch)
            if sha is None:
                return None
            blob = self.trees[self.commits[sha]["tree"]].get(path)
            return None if blob is None else self.blobs[blob].decode("utf-8")

    def log(self, repo: str, ref: str) -> list[dict[str, Any]]:
        """First-parent history of `ref`, newest first: dicts with sha, message, author, parents."""
        with self.lock:
            out, sha = [], self.resolve(repo, ref)
            while sha:
                c = self.commits[sha]
                out.append({"sha": sha, "message": c["message"], "author": c["author"], "parents": list(c["parents"])})
                sha = c["parents"][0] if c["parents"] else None
            return out

    # reviewer edits: commits on a branch (test helpers) -----------------------------------------------------
    def push_commit(self, repo: str, branch: str, files: dict[str, str | None], message: str = "reviewer edit",
                    author: str = "reviewer") -> str:
        """Commit `files` (None deletes) on top of `branch` (created from the default branch if missing)."""
        with self.lock:
            r = self.repos[repo]
            parent = r.refs.get(branch) or r.refs[r.default_branch]
            tree = dict(self.trees[self.commits[parent]["tree"]])
            sha = self._make_commit(tree, files, [parent], message, author)
            r.refs[branch] = sha
            return sha

    def edit_file(self, repo: str, branch: str, path: str, fn: Callable[[str], str], message: str = "reviewer edit",
                  author: str = "reviewer") -> str:
        """Commit `fn(current text)` as `path` on `branch`."""
        text = self.file(repo, path, branch)
        assert text is not None, f"{path} missing on {branch}"
        new = fn(text)
        assert new != text, "edit changed nothing"
        return self.push_commit(repo, branch, {path: new}, message, author)

    def remove_line(self, repo: str, branch: str, containing: str, path: str = "README.md",
                    author: str = "reviewer") -> str:
        """Delete the line containing `containing` (and one blank line after it) on `branch`."""
        def fn(text: str) -> str:
            lines = text.split("\n")
            i = next(i for i, ln in enumerate(lines) if containing in ln)
            del lines[i]
            if i < len(lines) and lines[i].strip() == "" and i > 0 and lines[i - 1].strip() == "":
                del lines[i]
            return "\n".join(lines)
        return self.edit_file(repo, branch, path, fn, f"Remove {containing}", author)

    def move_line(self, repo: str, branch: str, containing: str, after_heading: str, path: str = "README.md",
                  author: str = "reviewer") -> str:
        """Move the line containing `containing` to just below the heading line whose text is `after_heading`."""
        def fn(text: str) -> str:
            lines = text.split("\n")
            i = next(i for i, ln in enumerate(lines) if containing in ln)
            line = lines.pop(i)
            if i < len(lines) and lines[i].strip() == "" and i > 0 and lines[i - 1].strip() == "":
                del lines[i]
            h = next(i for i, ln in enumerate(lines)
                     if ln.startswith("#") and ln.lstrip("#").strip() == after_heading)
            lines[h + 1:h + 1] = ["", line]
            return "\n".join(lines)
        return self.edit_file(repo, branch, path, fn, f"Move {containing} to {after_heading}", author)

    # the object store ---------------------------------------------------------------------------------------
    def _put_blob(self, data: bytes) -> str:
        sha = blob_sha(data)
        self.blobs[sha] = data
        return sha

    def _put_tree(self, entries: dict[str, str]) -> str:
        raw = json.dumps(sorted(entries.items())).encode()
        sha = hashlib.sha1(b"tree " + raw).hexdigest()
        self.trees[sha] = dict(entries)
        return sha

    def _commit_obj(self, tree_sha: str, parents: list[str], message: str, author: str) -> str:
        n = next(self._gen)
        sha = hashlib.sha1(json.dumps([tree_sha, parents, message, author, n]).encode()).hexdigest()
        self.commits[sha] = {"tree": tree_sha, "parents": list(parents), "message": message, "author": author,
                             "date": _now(), "gen": n}
        return sha

    def _make_commit(self, tree: dict[str, str], files: dict[str, str | None], parents: list[str], message: str,
                     author: str) -> str:
        tree = dict(tree)
        for path, text in files.items():
            if text is None:
                tree.pop(path, None)
            else:
                tree[path] = self._put_blob(text.encode("utf-8"))
        return self._commit_obj(self._put_tree(tree), parents, message, author)

    def _ancestors(self, sha: str) -> set[str]:
        seen, todo = set(), [sha]
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(self.commits[s]["parents"])
        return seen

    def _merge_base(self, a: str, b: str) -> str | None:
        common = self._ancestors(a) & self._ancestors(b)
        return max(common, key=lambda s: self.commits[s]["gen"]) if common else None

    def _tree_of(self, sha: str) -> dict[str, str]:
        return self.trees[self.commits[sha]["tree"]]

    def _merge_trees(self, base: str | None, ours: str, theirs: str) -> dict[str, str] | None:
        """Three-way merge per file; text merge with `git merge-file` when both changed; None on conflict."""
        b = self._tree_of(base) if base else {}
        o, t = self._tree_of(ours), self._tree_of(theirs)
        out: dict[str, str] = {}
        for path in sorted(set(b) | set(o) | set(t)):
            bv, ov, tv = b.get(path), o.get(path), t.get(path)
            if ov == tv:
                val = ov
            elif ov == bv:
                val = tv
            elif tv == bv:
                val = ov
            else:
                if None in (ov, tv):
                    return None
                merged = _merge_text(self.blobs.get(bv, b"") if bv else b"", self.blobs[ov], self.blobs[tv])
                if merged is None:
                    return None
                val = self._put_blob(merged)
            if val is not None:
                out[path] = val
        return out

    def _merge_refs(self, repo: str, base_ref: str, head_sha: str, message: str, author: str,
                    squash: bool = False) -> str | None:
        r = self.repos[repo]
        base_sha = r.refs[base_ref]
        if head_sha in self._ancestors(base_sha):
            return None  # nothing to merge
        if base_sha in self._ancestors(head_sha) and not squash:
            tree = self._tree_of(head_sha)
        else:
            tree = self._merge_trees(self._merge_base(base_sha, head_sha), base_sha, head_sha)
            if tree is None:
                raise HTTPError(409, "Merge conflict")
        parents = [base_sha] if squash else [base_sha, head_sha]
        sha = self._commit_obj(self._put_tree(tree), parents, message, author)
        r.refs[base_ref] = sha
        return sha

    # JSON shapes of git data (after GitHub's examples) ------------------------------------------------------
    def _git_commit_json(self, repo: str, sha: str) -> dict[str, Any]:
        c = self.commits[sha]
        base = f"{self.url}/repos/{repo}"
        who = {"name": c["author"], "email": f"{c['author']}@users.noreply.github.com", "date": c["date"]}
        return {"sha": sha, "node_id": f"C_{sha[:10]}", "url": f"{base}/git/commits/{sha}",
                "html_url": f"{self.host}/{repo}/commit/{sha}", "author": who, "committer": who,
                "message": c["message"], "tree": {"sha": c["tree"], "url": f"{base}/git/trees/{c['tree']}"},
                "parents": [{"sha": p, "url": f"{base}/git/commits/{p}", "html_url": f"{self.host}/{repo}/commit/{p}"}
                            for p in c["parents"]],
                "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None}}

    def _commit_json(self, repo: str, sha: str) -> dict[str, Any]:
        c = self.commits[sha]
        git = self._git_commit_json(repo, sha)
        base = f"{self.url}/repos/{repo}"
        return {"sha": sha, "node_id": git["node_id"], "url": f"{base}/commits/{sha}", "html_url": git["html_url"],
                "comments_url": f"{base}/commits/{sha}/comments",
                "commit": {k: git[k] for k in ("author", "committer", "message", "tree", "url", "verification")}
                | {"comment_count": 0},
                "author": self._user(c["author"]), "committer": self._user(c["author"]),
                "parents": [{"sha": p, "url": f"{base}/commits/{p}"} for p in c["parents"]]}

    def _content_json(self, repo: str, path: str, blob: str, ref: str) -> dict[str, Any]:
        data = self.blobs[blob]
        base = f"{self.url}/repos/{repo}"
        return {"type": "file", "encoding": "base64", "size": len(data), "name": path.rsplit("/", 1)[-1],
                "path": path, "content": base64.encodebytes(data).decode(), "sha": blob,
                "url": f"{base}/contents/{path}?ref={ref}", "git_url": f"{base}/git/blobs/{blob}",
                "html_url": f"{self.host}/{repo}/blob/{ref}/{path}",
                "download_url": f"{self.host}/raw/{repo}/{ref}/{path}",
                "_links": {"self": f"{base}/contents/{path}?ref={ref}", "git": f"{base}/git/blobs/{blob}",
                           "html": f"{self.host}/{repo}/blob/{ref}/{path}"}}

    def _ref_json(self, repo: str, branch: str) -> dict[str, Any]:
        sha = self.repos[repo].refs[branch]
        base = f"{self.url}/repos/{repo}"
        return {"ref": f"refs/heads/{branch}", "node_id": f"REF_{branch}", "url": f"{base}/git/refs/heads/{branch}",
                "object": {"type": "commit", "sha": sha, "url": f"{base}/git/commits/{sha}"}}

    def _tree_json(self, repo: str, sha: str) -> dict[str, Any]:
        return {"sha": sha, "url": f"{self.url}/repos/{repo}/git/trees/{sha}", "truncated": False,
                "tree": [{"path": p, "mode": "100644", "type": "blob", "sha": b, "size": len(self.blobs[b]),
                          "url": f"{self.url}/repos/{repo}/git/blobs/{b}"} for p, b in sorted(self.trees[sha].items())]}

    # handlers: refs, contents, compare, merges, git database ------------------------------------------------
    def _h_get_ref(self, repo, r, m, q, body, token):
        branch = m.group(1).removeprefix("heads/")
        if branch not in r.refs:
            raise HTTPError(404, "Not Found")
        return 200, self._ref_json(repo, branch), {}

    def _h_create_ref(self, repo, r, m, q, body, token):
        ref, sha = body.get("ref", ""), body.get("sha", "")
        if not ref.startswith("refs/heads/") or sha not in self.commits:
            raise HTTPError(422, "Object does not exist" if sha not in self.commits else "Reference name is invalid")
        branch = ref[len("refs/heads/"):]
        if branch in r.refs:
            raise HTTPError(422, "Reference already exists")
        r.refs[branch] = sha
        return 201, self._ref_json(repo, branch), {}

    def _h_update_ref(self, repo, r, m, q, body, token):
        branch = m.group(1).removeprefix("heads/")
        sha = body.get("sha", "")
        if branch not in r.refs:
            raise HTTPError(422, "Reference does not exist")
        if sha not in self.commits:
            raise HTTPError(422, "Object does not exist")
        if not body.get("force") and r.refs[branch] not in self._ancestors(sha):
            raise HTTPError(422, "Update is not a fast forward")
        r.refs[branch] = sha
        return 200, self._ref_json(repo, branch), {}

    def _h_get_contents(self, repo, r, m, q, body, token):
        ref = q.get("ref") or r.default_branch
        sha = self.resolve(repo, ref)
        if sha is None:
            raise HTTPError(404, f"No commit found for the ref {ref}")
        blob = self._tree_of(sha).get(m.group(1))
        if blob is None:
            raise HTTPError(404, "Not Found")
        return 200, self._content_json(repo, m.group(1), blob, ref), {}

    def _h_put_contents(self, repo, r, m, q, body, token):
        path = m.group(1)
        branch = body.get("branch") or r.default_branch
        if branch not in r.refs:
            raise HTTPError(404, f"Branch {branch} not found")
        head = r.refs[branch]
        current = self._tree_of(head).get(path)
        if current is not None and not body.get("sha"):
            raise HTTPError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if current is not None and body.get("sha") != current:
            raise HTTPError(409, f"{path} does not match {body.get('sha')}")
        data = base64.b64decode(body.get("content", ""))
        sha = self._make_commit(self._tree_of(head), {path: data.decode("utf-8")}, [head],
                                body.get("message", ""), token.login)
        r.refs[branch] = sha
        blob = self._tree_of(sha)[path]
        return (200 if current else 201), {"content": self._content_json(repo, path, blob, branch),
                                           "commit": self._git_commit_json(repo, sha)}, {}

    def _h_compare(self, repo, r, m, q, body, token):
        base_s, head_s = m.group(1), m.group(2)
        head_repo = repo
        if ":" in head_s:
            owner, head_s = head_s.split(":", 1)
            head_repo = next((n for n in self.repos if n.split("/")[0] == owner), repo)
        base, head = self.resolve(repo, base_s), self.resolve(head_repo, head_s)
        if base is None or head is None:
            raise HTTPError(404, "Not Found")
        mb = self._merge_base(base, head)
        anc_b, anc_h = self._ancestors(base), self._ancestors(head)
        ahead = sorted(anc_h - anc_b, key=lambda s: self.commits[s]["gen"])
        behind = anc_b - anc_h
        files = []
        mb_tree = self._tree_of(mb) if mb else {}
        h_tree = self._tree_of(head)
        for path in sorted(set(mb_tree) | set(h_tree)):
            if mb_tree.get(path) != h_tree.get(path):
                status = "added" if path not in mb_tree else "removed" if path not in h_tree else "modified"
                files.append({"sha": h_tree.get(path), "filename": path, "status": status, "additions": 0,
                              "deletions": 0, "changes": 0, "blob_url": f"{self.host}/{repo}/blob/{head}/{path}",
                              "raw_url": f"{self.host}/{repo}/raw/{head}/{path}",
                              "contents_url": f"{self.url}/repos/{repo}/contents/{path}?ref={head}"})
        status = "identical" if base == head else "ahead" if not behind else "behind" if not ahead else "diverged"
        data = {"url": f"{self.url}/repos/{repo}/compare/{base_s}...{m.group(2)}",
                "html_url": f"{self.host}/{repo}/compare/{base_s}...{m.group(2)}",
                "base_commit": self._commit_json(repo, base),
                "merge_base_commit": self._commit_json(repo, mb) if mb else None,
                "status": status, "ahead_by": len(ahead), "behind_by": len(behind), "total_commits": len(ahead),
                "commits": [self._commit_json(repo, s) for s in ahead], "files": files}
        return 200, data, {}

    def _h_merge(self, repo, r, m, q, body, token):
        base, head = body.get("base", ""), body.get("head", "")
        if base not in r.refs:
            raise HTTPError(404, "Base does not exist")
        head_sha = self.resolve(repo, head)
        if head_sha is None:
            raise HTTPError(404, "Head does not exist")
        sha = self._merge_refs(repo, base, head_sha, body.get("commit_message") or f"Merge {head} into {base}",
                               token.login)
        if sha is None:
            return 204, None, {}
        return 201, self._commit_json(repo, sha), {}

    def _h_get_git_commit(self, repo, r, m, q, body, token):
        if m.group(1) not in self.commits:
            raise HTTPError(404, "Not Found")
        return 200, self._git_commit_json(repo, m.group(1)), {}

    def _h_get_tree(self, repo, r, m, q, body, token):
        sha = m.group(1)
        if sha not in self.trees:
            raise HTTPError(404, "Not Found")
        return 200, self._tree_json(repo, sha), {}

    def _h_create_tree(self, repo, r, m, q, body, token):
        entries = dict(self.trees.get(body.get("base_tree") or "", {}))
        if body.get("base_tree") and body["base_tree"] not in self.trees:
            raise HTTPError(422, "base_tree is not a valid tree")
        for e in body.get("tree", []):
            if "content" in e:
                entries[e["path"]] = self._put_blob(e["content"].encode("utf-8"))
            elif e.get("sha") is None:
                entries.pop(e["path"], None)
            else:
                entries[e["path"]] = e["sha"]
        return 201, self._tree_json(repo, self._put_tree(entries)), {}

    def _h_create_git_commit(self, repo, r, m, q, body, token):
        tree, parents = body.get("tree"), body.get("parents", [])
        if tree not in self.trees or any(p not in self.commits for p in parents):
            raise HTTPError(422, "Tree SHA does not exist or parent SHA does not exist")
        sha = self._commit_obj(tree, parents, body.get("message", ""), token.login)
        return 201, self._git_commit_json(repo, sha), {}


def _merge_text(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """Line-based three-way merge with `git merge-file`; None when it conflicts (or git is missing)."""
    git = shutil.which("git")
    if git is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            p = Path(d) / name
            p.write_bytes(data)
            paths.append(str(p))
        res = subprocess.run([git, "merge-file", "-p", *paths], capture_output=True, timeout=30)
        return res.stdout if res.returncode == 0 else None
