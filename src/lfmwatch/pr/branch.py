"""The bot branch on GitHub: read its state (base, open PR, branch, the PR's papers), start it fresh when that loses
nothing, re-apply the bot's entries when the base moved, and write one commit or open the pull request.

The crash-safety argument of the whole sequence is in propose.py's docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lfmwatch.errors import GitHubError
from lfmwatch.records import section_path
from lfmwatch.store.db import Store

if TYPE_CHECKING:
    from lfmwatch.adapters.github import GitHubRepo, GitHubSession, PullInfo
    from lfmwatch.awesome import AwesomeList
    from lfmwatch.config import Config
    from lfmwatch.pr.reads import RunReads

log = logging.getLogger(__name__)


def new_entries(papers: Sequence[dict[str, Any]]) -> list[Any]:
    from lfmwatch.awesome import NewEntry
    from lfmwatch.awesome.venue import entry_venue

    return [NewEntry(p["section"], p["id"], str(p.get("title") or ""), entry_venue(p)) for p in papers]


def added_entries(lst: AwesomeList, base: AwesomeList) -> list[Any]:
    """Entries of `lst` with an arXiv id that `base` does not have: the PR's papers."""
    base_ids = {e.arxiv_id for e in base.entries if e.arxiv_id}
    seen: set[str] = set()
    out = []
    for e in lst.entries:
        if e.arxiv_id and e.arxiv_id not in base_ids and e.arxiv_id not in seen:
            seen.add(e.arxiv_id)
            out.append(e)
    return out


@dataclass
class BranchState:
    """Everything read from GitHub before a write."""

    target: GitHubRepo
    head: GitHubRepo
    branch: str
    base: str
    base_sha: str
    base_text: str
    base_list: Any
    open_pr: PullInfo | None
    branch_sha: str | None
    plan: str  # create | fast-forward | reset | reuse | open
    work_sha: str
    work_text: str
    work_blob: str
    work_list: Any
    reapply: bool = False  # the new README is base + the branch's entries: commit as a merge of base
    notes: list[str] = field(default_factory=list)
    closed_pr: PullInfo | None = None  # plan "reset": the closed bot PR whose head the branch still is
    closed_entries: list[Any] = field(default_factory=list)  # that PR's papers (entries not in base)
    unfiled: list[Any] = field(default_factory=list)  # the PR's entries whose section vanished from the base README
    renamed: dict[str, str] = field(default_factory=dict)  # old section path -> its new path, when evident
    merge_pending: bool = False  # read without allow_merge: a write would merge the base into the branch first

    @property
    def head_spec(self) -> str:
        return f"{self.head.owner}:{self.branch}"


def _repos(session: GitHubSession, config: Config) -> tuple[GitHubRepo, GitHubRepo]:
    from lfmwatch.adapters.github import PUSH_HINT

    target = session.repo(config.target.repo)
    if target.can_push:
        return target, target
    if config.target.fork:
        fork = session.repo(config.target.fork)
        if not fork.can_push:
            raise GitHubError(
                f"the token can push neither to {target.full_name} nor to the fork {fork.full_name}",
                "give the token 'Contents: Read and write' on the fork (classic token: 'public_repo' scope)",
            )
        return target, fork
    raise GitHubError(
        f"the token cannot push to {target.full_name}: it lacks the 'contents: write' permission "
        "(GitHub reports permissions.push = false)",
        PUSH_HINT,
    )


def read_state(session: GitHubSession, config: Config, *, allow_merge: bool,
               reads: RunReads | None = None) -> BranchState:
    """Read the base, the bot's open PR and the bot branch (files through `reads`, the run's cache, when given)."""
    from lfmwatch.awesome import parse_list

    t = config.target
    exclude = tuple(t.exclude_sections)
    target, head = _repos(session, config)
    base = t.base_branch or target.default_branch
    _check_branch(t.branch, base, target, head)
    known, base_sha = reads.take_base_head(target, base) if reads is not None else (False, None)
    if not known:
        base_sha = target.branch_sha(base)
    if base_sha is None:
        raise GitHubError(f"base branch {base!r} not found on {target.full_name}", "fix target.base_branch")
    base_file = reads.read_file(target, t.readme, base_sha) if reads is not None else target.read_file(t.readme,
                                                                                                       base_sha)
    if base_file is None:
        raise GitHubError(f"{t.readme} not found on {target.full_name}@{base}", "fix target.readme")
    base_list = parse_list(base_file.text, exclude=exclude)
    spec = f"{head.owner}:{t.branch}"
    opened = target.find_pulls(spec, state="open", base=base)
    open_pr = opened[0] if opened else None
    branch_sha = head.branch_sha(t.branch)
    notes: list[str] = []
    if open_pr is not None and branch_sha is None:
        open_pr = None  # GitHub closes a PR whose head branch was deleted; treat it as gone
    if open_pr is not None:
        plan, work_sha = "open", branch_sha
    elif branch_sha is None:
        plan, work_sha = "create", base_sha
    else:
        plan, work_sha = _fresh_start(head, target, spec, base_sha, branch_sha, t.branch)
    assert work_sha is not None
    state = BranchState(target, head, t.branch, base, base_sha, base_file.text, base_list, open_pr, branch_sha, plan,
                   work_sha, base_file.text, base_file.sha, base_list, notes=notes)
    if plan == "reset" and branch_sha is not None:
        # The closed PR's papers, read from its head before the reset: blocked even when the store does not know
        # them (a state.db that lost that day's rows), so a closed PR's papers never come back in the next one.
        state.closed_pr = next((p for p in target.find_pulls(spec, state="closed") if p.head_sha == branch_sha),
                               None)
        closed_file = head.read_file(t.readme, branch_sha)
        if closed_file is not None:
            state.closed_entries = added_entries(parse_list(closed_file.text, exclude=exclude), base_list)
    if work_sha != base_sha:
        _load_work(state, config, allow_merge=allow_merge, reads=reads)
    return state


BOT_COMMIT_PREFIX = "lfmwatch:"  # every commit message the bot writes starts with it (see write_branch)


def _check_branch(branch: str, base: str, target: GitHubRepo, head: GitHubRepo) -> None:
    """Refuse, before any write, a bot branch that is the base branch or the push repository's default branch."""
    from lfmwatch.errors import ConfigError

    if not branch.strip():
        raise ConfigError("target.branch is empty", 'set target.branch to the bot\'s own branch, e.g. "lfmwatch/papers"')
    taken = {base: f"the base branch of {target.full_name}", head.default_branch: f"the default branch of "
             f"{head.full_name}"}
    if branch in taken:
        raise ConfigError(f"target.branch = {branch!r} is {taken[branch]}: lfmwatch would commit straight to it",
                          'give the bot a branch of its own, e.g. target.branch = "lfmwatch/papers"')


def _fresh_start(head: GitHubRepo, target: GitHubRepo, spec: str, base_sha: str, branch_sha: str,
                 branch: str) -> tuple[str, str]:
    """No open PR but the branch exists: reset it to base (when that loses nothing) or reuse it."""
    cmp = head.compare(base_sha, branch_sha)
    if cmp.ahead_by == 0:
        return "fast-forward", base_sha  # everything on the branch is in base already
    closed = target.find_pulls(spec, state="closed")
    closed_heads = {p.head_sha for p in closed}
    if branch_sha in closed_heads:
        return "reset", base_sha
    for p in closed[:5]:  # newest first; older closed PRs' commits were dealt with when those closed
        if (p.head_sha and p.head_sha != branch_sha and head.compare(p.head_sha, branch_sha).behind_by == 0
                and head.compare(base_sha, p.head_sha).ahead_by > 0):
            # The branch holds that PR's commits, and they are not in base (a merge commit would have put them
            # there): resetting would drop them together with the later commits.
            raise GitHubError(
                f"branch {branch} on {head.full_name} holds the commits of closed PR #{p.number} plus later commits "
                "that are not in the base branch; lfmwatch will not overwrite them",
                f"open a PR from {branch} yourself or delete the branch, then rerun lfmwatch propose",
            )
    if not closed and not any(m.startswith(BOT_COMMIT_PREFIX) for m in cmp.messages):
        # No bot PR ever came from it and no commit on it is the bot's: somebody else's branch.
        from lfmwatch.errors import ConfigError

        raise ConfigError(
            f"branch {branch} on {head.full_name} exists with {cmp.ahead_by} commit(s) that lfmwatch did not write "
            "and no lfmwatch pull request: it is not the bot's branch",
            "set target.branch to a branch lfmwatch owns (it creates it), or delete that branch",
        )
    return "reuse", branch_sha


def _load_work(state: BranchState, config: Config, *, allow_merge: bool, reads: RunReads | None = None) -> None:
    """Read the README on the branch; re-apply the bot's entries when the base README moved on."""
    from lfmwatch.awesome import insert_entries, parse_list

    t = config.target
    exclude = tuple(t.exclude_sections)
    f = (reads.read_file(state.head, t.readme, state.work_sha) if reads is not None
         else state.head.read_file(t.readme, state.work_sha))
    if f is None:
        raise GitHubError(f"{t.readme} is missing on branch {state.branch}",
                          f"restore it on {state.branch} or delete the branch, then rerun")
    state.work_text, state.work_blob = f.text, f.sha
    state.work_list = parse_list(f.text, exclude=exclude)
    cmp = state.head.compare(state.base_sha, state.work_sha)
    if cmp.behind_by == 0:
        return
    mb = state.head.read_file(t.readme, cmp.merge_base_sha)
    mb_text = mb.text if mb else ""
    if mb_text == state.base_text:
        return  # the base changed other files only: nothing to re-apply
    mb_list = parse_list(mb_text, exclude=exclude)
    added = added_entries(state.work_list, mb_list)
    entries = new_entries([{"id": e.arxiv_id, "section": section_path(e.section), "title": e.title,
                            "venue": e.venue} for e in added])
    pure = set(cmp.files) <= {t.readme} and insert_entries(mb_text, entries, exclude=exclude).text == state.work_text
    if pure:
        res = insert_entries(state.base_text, entries, exclude=exclude)
        known = set(state.base_list.paper_sections())
        state.unfiled = [n for n, _ in res.refused if n.section not in known]
        if state.unfiled:
            state.renamed = renamed_sections(mb_list, state.base_list)
        state.work_text = res.text
        state.work_list = parse_list(res.text, exclude=exclude)
        state.reapply = True
        state.notes.append(f"re-applied {len(res.inserted)} entries to the new {state.base} README")
        return
    if not allow_merge:
        state.merge_pending = True
        state.notes.append(f"would merge {state.base} into {state.branch} (people edited the branch)")
        return
    from lfmwatch.adapters.github import ConflictError

    try:
        merged = state.head.merge_into(state.branch, state.base_sha, f"Merge {state.base} into {state.branch}")
    except ConflictError as exc:
        where = f"PR #{state.open_pr.number}" if state.open_pr else f"branch {state.branch}"
        raise GitHubError(
            f"{state.base} changed {t.readme} and so did people on {state.branch}: the two conflict",
            f"resolve the conflict in {where} (e.g. 'Resolve conflicts' or merge {state.base} into it), then rerun; "
            "lfmwatch never overwrites reviewers' edits",
        ) from exc
    if merged:
        state.work_sha = merged
        f = state.head.read_file(t.readme, merged)
        assert f is not None
        state.work_text, state.work_blob = f.text, f.sha
        state.work_list = parse_list(f.text, exclude=exclude)
        state.notes.append(f"merged {state.base} into {state.branch}")


def renamed_sections(old: AwesomeList, new: AwesomeList) -> dict[str, str]:
    """Sections of `old` missing from `new` whose new path is evident: old path -> new path.

    Evident means: the old section's entries all sit in one new section now (a renamed heading or parent), or
    it is the only section gone under its parent while exactly one new one appeared there (an empty one renamed).
    """
    old_paths, new_paths = set(old.paper_sections()), set(new.paper_sections())
    gone, came = old_paths - new_paths, new_paths - old_paths
    where = {e.arxiv_id: section_path(e.section) for e in new.entries if e.arxiv_id}
    out: dict[str, str] = {}
    for g in sorted(gone):
        homes = {where[e.arxiv_id] for e in old.entries
                 if e.arxiv_id in where and section_path(e.section) == g}
        if len(homes) == 1 and (home := homes.pop()) in came:
            out[g] = str(home)
    for g in sorted(gone - set(out)):
        parent = g.rpartition(" > ")[0]
        siblings_gone = [x for x in gone - set(out) if x.rpartition(" > ")[0] == parent]
        fresh = [c for c in came if c.rpartition(" > ")[0] == parent and c not in out.values()]
        if len(siblings_gone) == 1 and len(fresh) == 1:
            out[g] = fresh[0]
    return out


def refile(store: Store, state: BranchState, exclude: tuple[str, ...], *, dry_run: bool) -> list[str]:
    """Re-file the PR's papers whose section vanished upstream: to the renamed heading when the move is evident,
    else to the best other section of their stored prediction; papers with neither leave the PR (status
    `unfiled`, never a rejection). Returns one line per paper for the run summary."""
    from lfmwatch.awesome import NewEntry, insert_entries, parse_list
    from lfmwatch.store.ledger import predicted_sections, refile_proposals

    if not state.unfiled:
        return []
    known = set(state.work_list.paper_sections())
    ranked = predicted_sections(store, [n.arxiv_id for n in state.unfiled])
    moves = []
    for n in state.unfiled:
        target = state.renamed.get(n.section) or next(
            (s for s in ranked.get(n.arxiv_id, []) if s in known and s != n.section), None)
        if target:
            moves.append(NewEntry(target, n.arxiv_id, n.title, n.venue))
    res = insert_entries(state.work_text, moves, exclude=exclude)
    state.work_text = res.text
    state.work_list = parse_list(res.text, exclude=exclude)
    old = {n.arxiv_id: n.section for n in state.unfiled}
    moved = [(m.arxiv_id, m.section) for m in res.inserted]
    out = [n.arxiv_id for n in state.unfiled if n.arxiv_id not in {m[0] for m in moved}]
    if not dry_run:
        refile_proposals(store, moved, out)
    lines = [f"{pid}: section {old[pid]!r} vanished from the base README, re-filed under {new!r}"
             for pid, new in moved]
    lines += [f"{pid}: section {old[pid]!r} vanished from the base README and no other section fits: "
              "kept out of the PR (not rejected); file it by hand or retrain" for pid in out]
    for line in lines:
        log.warning("%s", line)
    return lines


def write_branch(state: BranchState, new_text: str, added: Sequence[dict[str, Any]], readme: str) -> str:
    """Create/reset the branch when needed, then commit the README on top of what we read."""
    ids = ", ".join(p["id"] for p in added[:12]) + (", ..." if len(added) > 12 else "")
    # Only ids in the message: titles are untrusted and GitHub renders @mentions in commit messages.
    n = len(added)
    head = f"{BOT_COMMIT_PREFIX} add {n} paper{'' if n == 1 else 's'} to {readme}" if n else \
        f"{BOT_COMMIT_PREFIX} update {readme}"
    message = head + (f"\n\narXiv: {ids}" if ids else "")
    if state.plan == "create":
        state.head.create_branch(state.branch, state.base_sha)
    elif state.plan == "fast-forward" and state.branch_sha != state.base_sha:
        state.head.move_branch(state.branch, state.base_sha, force=False)
    elif state.plan == "reset":
        # Safe by construction (see _fresh_start): the branch head is a closed PR's head, kept by GitHub. GitHub
        # has no compare-and-swap for refs, so re-read the head right before forcing: a commit pushed since our
        # read means re-read and decide again (ConflictError), never a force-push over it.
        from lfmwatch.adapters.github import ConflictError

        if state.head.branch_sha(state.branch) != state.branch_sha:
            raise ConflictError(f"branch {state.branch} moved on {state.head.full_name} while lfmwatch was working")
        state.head.move_branch(state.branch, state.base_sha, force=True)
    if state.reapply:
        return state.head.commit_merge(state.branch, [state.work_sha, state.base_sha], state.base_sha,
                                       {readme: new_text},
                                       f"lfmwatch: re-apply papers onto {state.base}\n\n{message}")
    return state.head.put_file(readme, state.branch, new_text, message, state.work_blob)


def open_pull(state: BranchState, title: str, body: str) -> PullInfo:
    """Open the PR, or find the one a previous (interrupted) run or a retried request already opened."""
    try:
        return state.target.create_pull(title, body, state.head_spec, state.base)
    except GitHubError as exc:
        found = state.target.find_pulls(state.head_spec, state="open", base=state.base)
        if found:
            if found[0].body != body:
                state.target.update_pull(found[0].number, body=body)
            return found[0]
        raise exc
