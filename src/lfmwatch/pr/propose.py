"""Propose papers: one rolling pull request on the list repository (or a local README copy).

The GitHub sequence, and why it is crash-safe (every step can be killed and rerun):

1. Read (no writes): the base branch and its README, the bot's open PR (by head `owner:branch`), the bot branch
   and the README on it. Entries on the branch whose arXiv id is not in the base README are "the PR's papers".
2. Select: candidates = relevant predictions of the current model, minus papers in the base list, papers already
   in the PR and papers blocked in the store (proposed/decided/rejected/ignored; see lfmwatch.store.ledger), capped by
   select.max_per_run and by what the open PR still has room for (select.max_per_pr).
3. Record intent: the chosen papers get proposal rows with status `selected` (not blocking).
4. Write one commit on the bot branch, built on its current head (contents API with the blob sha we read: a 409
   means someone pushed meanwhile, so we re-read and redo, at most 3 times; never a force-push over a head we
   did not read). The README edit is `awesome.insert_entries` on the branch's README.
5. Open the PR if none is open (a 422 "already exists" means a previous run got that far: we reuse it), re-render
   its body from the entries now on the branch, add labels (created first when missing).
6. Mark every paper of the PR `proposed` with the PR number; upsert the pull_requests row.

Killed after 4: the rerun finds the branch ahead of base with our entries and no open PR, reuses it (its papers are
"the PR's papers", so none is selected twice) and opens the PR. Killed after 5: the rerun finds the open PR.

Starting fresh when no PR is open: the branch is created from the base head when missing. An existing branch is
reset to the base head only when that loses nothing: it holds no commit missing from base, or its head is exactly
the head of a closed/merged bot PR (GitHub keeps those commits under the PR); before a reset, that PR's papers are
read from its head and blocked (recorded in it when the store lost them, so sync rejects them). A branch holding
an unmerged closed PR's commits plus later commits is left alone and the run fails with a hint; any other branch
ahead of base (a run killed before opening its PR, also after a merged PR) is reused as it is. The reset re-reads
the branch head first: a commit pushed since the read means re-read and decide again, never a force over it.

When the base README moved on under an open PR, the bot's entries are re-applied to the new base: if the branch
differs from its merge base only by entries inserted in list style, the bot writes a merge commit (parents: branch
head and base head) whose README is the new base README plus those entries; otherwise (people edited other lines
or files on the branch) GitHub merges the base into the branch, and a conflict stops the run with a hint.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lfmwatch.errors import GitHubError, InputError
from lfmwatch.ids import paper_key
from lfmwatch.records import section_path
from lfmwatch.select import SKIP_REASONS, select_papers
from lfmwatch.store.db import Store
from lfmwatch.store.ledger import (
    blocked_ids,
    load_candidates,
    paper_info,
    proposal_of,
    record_intent,
    record_local_proposals,
    record_proposed,
)

if TYPE_CHECKING:
    from lfmwatch.adapters.github import GitHubRepo, GitHubSession, PullInfo
    from lfmwatch.awesome import AwesomeList
    from lfmwatch.config import Config

log = logging.getLogger(__name__)
ATTEMPTS = 3


@dataclass
class ProposeResult:
    """What propose did (or, in a dry run, would do)."""

    status: str = "nothing"  # proposed | updated | nothing | dry-run | local
    reason: str = ""
    proposed: list[str] = field(default_factory=list)  # ids added by this run
    papers: list[dict[str, Any]] = field(default_factory=list)  # every paper in the PR / the local edit
    skipped: dict[str, int] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (id, reason) insert_entries refused
    pr_number: int | None = None
    pr_url: str | None = None
    created_pr: bool = False
    commit: str | None = None
    body: str = ""
    diff: str = ""
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the terminal."""
        if self.status in ("nothing",):
            return f"nothing to propose: {self.reason}"
        where = f" in PR #{self.pr_number} {self.pr_url or ''}".rstrip() if self.pr_number else ""
        return f"{self.status}: {len(self.proposed)} new paper(s){where}; {self.reason}".rstrip("; ")


def _new_entries(papers: Sequence[dict[str, Any]]) -> list[Any]:
    from lfmwatch.awesome import NewEntry

    return [NewEntry(p["section"], p["id"], str(p.get("title") or "")) for p in papers]


def _added_entries(lst: AwesomeList, base: AwesomeList) -> list[Any]:
    """Entries of `lst` with an arXiv id that `base` does not have: the PR's papers."""
    base_ids = {e.arxiv_id for e in base.entries if e.arxiv_id}
    seen: set[str] = set()
    out = []
    for e in lst.entries:
        if e.arxiv_id and e.arxiv_id not in base_ids and e.arxiv_id not in seen:
            seen.add(e.arxiv_id)
            out.append(e)
    return out


def _body_papers(store: Store, entries: Sequence[Any]) -> list[dict[str, Any]]:
    info = paper_info(store, [e.arxiv_id for e in entries])
    papers = []
    for e in entries:
        p = dict(info.get(e.arxiv_id, {"id": e.arxiv_id}))
        p.setdefault("title", e.title)
        p["title"] = p.get("title") or e.title
        p["section"] = section_path(e.section)
        papers.append(p)
    return papers


def _section_order(lst: AwesomeList) -> list[str]:
    return [s for s in (section_path(x) for x in lst.sections) if s]


def unified_diff(old: str, new: str, name: str) -> str:
    """A unified diff of two README texts."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{name}", tofile=f"b/{name}"))


# --- local mode -------------------------------------------------------------------------------------------


def propose_local(
    store: Store,
    config: Config,
    readme: Path,
    out: Path | None = None,
    body_path: Path | None = None,
    *,
    dry_run: bool = False,
    record: bool = False,
    model_version: str | None = None,
) -> ProposeResult:
    """Edit a local copy of the list with the same rules; write it to `out` and the PR body to `body_path`.

    Local mode records nothing unless `record` is set: then the papers become `proposed` with no PR number, which
    blocks them from the GitHub mode too. Without it, rerunning on the edited copy finds them in the list.
    """
    from lfmwatch.awesome import insert_entries, parse_list
    from lfmwatch.pr.body import render_pr_body

    try:
        # Bytes, not read_text(): universal-newline decoding would turn a CRLF list into LF on write.
        text = readme.read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(f"{readme}: cannot read the list: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{readme}: the list is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    exclude = tuple(config.target.exclude_sections)
    lst = parse_list(text, exclude=exclude)
    chosen, skipped = select_papers(load_candidates(store, config, model_version), lst, blocked_ids(store),
                                    config.select.max_per_run, config.select.min_score,
                                    config.select.max_per_section)
    res = insert_entries(text, _new_entries(chosen), exclude=exclude)
    inserted = {paper_key(n.arxiv_id) for n in res.inserted}
    papers = [dict(p) for p in chosen if p["id"] in inserted]
    result = ProposeResult(status="dry-run" if dry_run else "local", skipped=skipped,
                           refused=[(n.arxiv_id, reason) for n, reason in res.refused],
                           proposed=[p["id"] for p in papers])
    for p in papers:
        p.setdefault("summary", paper_info(store, [p["id"]]).get(p["id"], {}).get("summary"))
    result.papers = papers
    result.body = render_pr_body(papers, _section_order(lst), readme=readme.name)
    result.diff = unified_diff(text, res.text, readme.name)
    if not papers:
        result.status, result.reason = "nothing", _nothing_reason(skipped, len(result.refused))
        return result
    result.reason = f"{len(papers)} entr{'y' if len(papers) == 1 else 'ies'} added"
    if dry_run:
        return result
    try:
        (out or readme).write_bytes(res.text.encode("utf-8"))
        if body_path is not None:
            body_path.write_text(result.body, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the edited list or body: {exc.strerror or exc}") from exc
    if record:
        record_local_proposals(store, papers)
    return result


def _nothing_reason(skipped: dict[str, int], refused: int = 0) -> str:
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in skipped.items() if v]
    if refused:
        parts.append(f"refused by the list {refused}")
    if not parts:
        return "no relevant prediction waiting (classify first, or all were proposed)"
    return "no candidate left (skipped: " + ", ".join(parts) + ")"


# --- GitHub mode ------------------------------------------------------------------------------------------


@dataclass
class _State:
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


def _read_state(session: GitHubSession, config: Config, *, allow_merge: bool) -> _State:
    from lfmwatch.awesome import parse_list

    t = config.target
    exclude = tuple(t.exclude_sections)
    target, head = _repos(session, config)
    base = t.base_branch or target.default_branch
    _check_branch(t.branch, base, target, head)
    base_sha = target.branch_sha(base)
    if base_sha is None:
        raise GitHubError(f"base branch {base!r} not found on {target.full_name}", "fix target.base_branch")
    base_file = target.read_file(t.readme, base_sha)
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
    state = _State(target, head, t.branch, base, base_sha, base_file.text, base_list, open_pr, branch_sha, plan,
                   work_sha, base_file.text, base_file.sha, base_list, notes=notes)
    if plan == "reset" and branch_sha is not None:
        # The closed PR's papers, read from its head before the reset: blocked even when the store does not know
        # them (a state.db that lost that day's rows), so a closed PR's papers never come back in the next one.
        state.closed_pr = next((p for p in target.find_pulls(spec, state="closed") if p.head_sha == branch_sha),
                               None)
        closed_file = head.read_file(t.readme, branch_sha)
        if closed_file is not None:
            state.closed_entries = _added_entries(parse_list(closed_file.text, exclude=exclude), base_list)
    if work_sha != base_sha:
        _load_work(state, config, allow_merge=allow_merge)
    return state


BOT_COMMIT_PREFIX = "lfmwatch:"  # every commit message the bot writes starts with it (see _write_branch)


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


def _load_work(state: _State, config: Config, *, allow_merge: bool) -> None:
    """Read the README on the branch; re-apply the bot's entries when the base README moved on."""
    from lfmwatch.awesome import insert_entries, parse_list

    t = config.target
    exclude = tuple(t.exclude_sections)
    f = state.head.read_file(t.readme, state.work_sha)
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
    added = _added_entries(state.work_list, mb_list)
    entries = _new_entries([{"id": e.arxiv_id, "section": section_path(e.section), "title": e.title} for e in added])
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


def _refile(store: Store, state: _State, exclude: tuple[str, ...], *, dry_run: bool) -> list[str]:
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
            moves.append(NewEntry(target, n.arxiv_id, n.title))
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


def _limit(config: Config, in_pr: int) -> int:
    return max(0, min(config.select.max_per_run, config.select.max_per_pr - in_pr))


def select_for_pr(
    store: Store, config: Config, session: GitHubSession, *, model_version: str | None = None,
    on_branch: set[str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The papers the next propose would add (read-only on GitHub and the store) and the skip counts.

    `on_branch`, when given, receives the ids of the papers already on the bot branch (they reached GitHub).
    """
    state = _read_state(session, config, allow_merge=False)
    if on_branch is not None:
        on_branch.update(e.arxiv_id for e in _added_entries(state.work_list, state.base_list))
    chosen, counts = _select(store, config, state, load_candidates(store, config, model_version))
    if state.plan == "reuse":
        # A run died between its commit and opening the PR: hand its papers on, so that the caller's propose
        # step runs (and opens the PR) even when nothing new was selected. They are not inserted twice.
        stranded = _body_papers(store, _added_entries(state.work_list, state.base_list))
        chosen += [p for p in stranded if p["id"] not in {c["id"] for c in chosen}]
        counts["stranded"] = len(stranded)
    return chosen, counts


def _select(store: Store, config: Config, state: _State,
            candidates: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    in_pr = _added_entries(state.work_list, state.base_list)
    blocked = blocked_ids(store) | {e.arxiv_id for e in in_pr} | {e.arxiv_id for e in state.closed_entries}
    limit = _limit(config, len(in_pr))
    chosen, skipped = select_papers(candidates, state.base_list, blocked, limit, config.select.min_score,
                                    config.select.max_per_section)
    counts = {"candidates": len(candidates), **skipped, "in_pr": len(in_pr),
              "pr_full": int(state.open_pr is not None and len(in_pr) >= config.select.max_per_pr)}
    return chosen, counts


def propose(
    store: Store,
    config: Config,
    session: GitHubSession,
    *,
    dry_run: bool = False,
    run_id: int | None = None,
    model_version: str | None = None,
) -> ProposeResult:
    """Select and propose in one go (what `lfmwatch propose` does)."""
    return propose_to_github(store, config, session, load_candidates(store, config, model_version),
                             run_id=run_id, dry_run=dry_run)


def propose_to_github(
    store: Store,
    config: Config,
    session: GitHubSession,
    selected: Sequence[Mapping[str, Any]],
    *,
    run_id: int | None = None,
    dry_run: bool = False,
) -> ProposeResult:
    """Add `selected` (re-checked against the current list, PR and store) to the rolling PR; see module doc."""
    from lfmwatch.adapters.github import ConflictError

    with store.lock("propose"):
        last: Exception | None = None
        for attempt in range(ATTEMPTS):
            try:
                return _attempt(store, config, session, selected, run_id=run_id, dry_run=dry_run)
            except ConflictError as exc:
                # Someone pushed to the branch (or opened the PR) between our read and our write: re-read, redo.
                log.info("attempt %d: %s; re-reading the branch", attempt + 1, exc.message)
                last = exc
        raise GitHubError(
            f"the bot branch {config.target.branch} kept changing while lfmwatch wrote to it ({last})",
            "rerun lfmwatch propose when nobody is pushing to the branch",
        )


def _attempt(store: Store, config: Config, session: GitHubSession, selected: Sequence[Mapping[str, Any]], *,
             run_id: int | None, dry_run: bool) -> ProposeResult:
    from lfmwatch.awesome import insert_entries, parse_list
    from lfmwatch.pr.body import render_pr_body

    t = config.target
    exclude = tuple(t.exclude_sections)
    state = _read_state(session, config, allow_merge=not dry_run)
    refiled = _refile(store, state, exclude, dry_run=dry_run)
    chosen, counts = _select(store, config, state, selected)
    res = insert_entries(state.work_text, _new_entries(chosen), exclude=exclude)
    inserted = {paper_key(n.arxiv_id) for n in res.inserted}
    added_now = [p for p in chosen if p["id"] in inserted]
    new_text = res.text
    new_list = parse_list(new_text, exclude=exclude)
    in_pr = _added_entries(new_list, state.base_list)
    result = ProposeResult(skipped=counts, refused=[(n.arxiv_id, r) for n, r in res.refused],
                           proposed=[p["id"] for p in added_now], errors=list(refiled))
    if not dry_run and state.closed_pr is not None and state.closed_entries:
        # Papers of the closed PR the store lost: recorded in it, so that sync rejects them (known ones keep theirs).
        known = {e.arxiv_id for e in state.closed_entries if proposal_of(store, e.arxiv_id) is not None}
        lost = [e for e in state.closed_entries if e.arxiv_id not in known]
        if lost:
            record_proposed(store, lost, state.closed_pr, t.repo, t.branch, state.branch_sha)
    if not dry_run and added_now:
        record_intent(store, added_now, run_id)
    papers = _body_papers(store, in_pr)
    for p in papers:  # papers chosen now have no proposal row yet in a dry run: take their prediction data
        src = next((c for c in added_now if c["id"] == p["id"]), None)
        if src is not None and p.get("score") is None:
            p.update(score=src.get("score"), why=src.get("why"))
    result.papers = papers
    result.body = render_pr_body(papers, _section_order(new_list), readme=t.readme)
    commit_needed = new_text != state.work_text or state.reapply
    has_pr = state.open_pr is not None
    reason_bits = list(state.notes)
    if not commit_needed and (has_pr or not in_pr):
        result.status = "nothing"
        result.reason = "; ".join([*reason_bits, _nothing_reason(
            {k: counts.get(k, 0) for k in SKIP_REASONS}, len(result.refused))])
        if has_pr:
            assert state.open_pr is not None
            result.pr_number, result.pr_url = state.open_pr.number, state.open_pr.url
            if not dry_run:
                if state.open_pr.body != result.body:
                    state.target.update_pull(state.open_pr.number, body=result.body)
                record_proposed(store, in_pr, state.open_pr, t.repo, t.branch, state.work_sha)
                if set(t.labels) - set(state.open_pr.labels):  # a run died between opening and labelling
                    _label(state, state.open_pr, list(t.labels), result)
        return result
    result.diff = unified_diff(state.base_text if state.plan in ("create", "reset", "fast-forward") else state.work_text,
                               new_text, t.readme)
    if dry_run:
        result.status = "dry-run"
        action = f"update PR #{state.open_pr.number}" if state.open_pr else "open a PR"
        result.reason = "; ".join([*reason_bits, f"would {action} with {len(added_now)} new paper(s) "
                                   f"({len(in_pr)} in total)"])
        return result
    head_sha = state.work_sha
    if commit_needed:
        head_sha = _write_branch(state, new_text, added_now, t.readme)
    result.commit = head_sha if commit_needed else None
    pr = state.open_pr
    if pr is None:
        pr = _open_pull(state, t.pr_title, result.body)
        result.created_pr = True
    else:
        if pr.body != result.body or pr.title != t.pr_title:
            state.target.update_pull(pr.number, title=t.pr_title, body=result.body)
    # Record the PR's papers as soon as it exists: a failure after this point (labels) must not leave them
    # `selected`, or a PR closed before the next run would not reject them.
    record_proposed(store, in_pr, pr, t.repo, t.branch, head_sha)
    if t.labels:
        _label(state, pr, list(t.labels), result)
    result.pr_number, result.pr_url = pr.number, pr.url
    result.status = "proposed" if result.created_pr else "updated"
    reason_bits.append(f"{len(in_pr)} paper(s) in the PR")
    result.reason = "; ".join(reason_bits)
    return result


def _label(state: _State, pr: PullInfo, labels: list[str], result: ProposeResult) -> None:
    """Labels are a courtesy: without triage rights on the target (fork mode) the PR goes out unlabelled."""
    from lfmwatch.adapters.github import PermissionDenied

    try:
        state.target.ensure_labels(labels)
        if set(labels) - set(pr.labels):
            state.target.add_labels(pr.number, labels)
    except PermissionDenied as exc:
        result.errors.append(f"labels not set: {exc.message} (needs triage/'Issues: write' on "
                             f"{state.target.full_name}; or set target.labels = [])")


def _write_branch(state: _State, new_text: str, added: Sequence[dict[str, Any]], readme: str) -> str:
    """Create/reset the branch when needed, then commit the README on top of what we read."""
    ids = ", ".join(p["id"] for p in added[:12]) + (", ..." if len(added) > 12 else "")
    # Only ids in the message: titles are untrusted and GitHub renders @mentions in commit messages.
    message = f"{BOT_COMMIT_PREFIX} add {len(added)} paper(s) to {readme}" + (f"\n\narXiv: {ids}" if ids else "")
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


def _open_pull(state: _State, title: str, body: str) -> PullInfo:
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
