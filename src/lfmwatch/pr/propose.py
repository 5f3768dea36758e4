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
    record_intent,
    record_local_proposals,
    record_proposed,
)
from lfmwatch.store.review import proposal

if TYPE_CHECKING:
    from lfmwatch.adapters.github import GitHubSession, PullInfo
    from lfmwatch.awesome import AwesomeList
    from lfmwatch.config import Config
    from lfmwatch.pr.reads import RunReads

from lfmwatch.pr.branch import (
    BranchState,
    added_entries,
    new_entries,
    open_pull,
    read_state,
    refile,
    write_branch,
)

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


def _body_papers(store: Store, entries: Sequence[Any]) -> list[dict[str, Any]]:
    from lfmwatch.store.review import body_details

    info = paper_info(store, [e.arxiv_id for e in entries])
    details = body_details(store, [e.arxiv_id for e in entries])
    papers = []
    for e in entries:
        p = {**details.get(e.arxiv_id, {}), **info.get(e.arxiv_id, {"id": e.arxiv_id})}
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
    res = insert_entries(text, new_entries(chosen), exclude=exclude)
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


def _limit(config: Config, in_pr: int) -> int:
    return max(0, min(config.select.max_per_run, config.select.max_per_pr - in_pr))


def select_for_pr(
    store: Store, config: Config, session: GitHubSession, *, model_version: str | None = None,
    on_branch: set[str] | None = None, reads: RunReads | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The papers the next propose would add (read-only on GitHub and the store) and the skip counts.

    `on_branch`, when given, receives the ids of the papers already on the bot branch (they reached GitHub).
    `reads`, the daily run's cache, supplies what sync read and keeps this read of the branch for propose.
    """
    state = read_state(session, config, allow_merge=False, reads=reads)
    if reads is not None:
        reads.keep_state(state)
    in_pr = added_entries(state.work_list, state.base_list)
    if on_branch is not None:
        on_branch.update(e.arxiv_id for e in in_pr)
    chosen, counts = _select(store, config, state, load_candidates(store, config, model_version), in_pr)
    if state.plan == "reuse":
        # A run died between its commit and opening the PR: hand its papers on, so that the caller's propose
        # step runs (and opens the PR) even when nothing new was selected. They are not inserted twice.
        stranded = _body_papers(store, in_pr)
        chosen += [p for p in stranded if p["id"] not in {c["id"] for c in chosen}]
        counts["stranded"] = len(stranded)
    return chosen, counts


def _select(store: Store, config: Config, state: BranchState, candidates: Sequence[Mapping[str, Any]],
            in_pr: Sequence[Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    if in_pr is None:
        in_pr = added_entries(state.work_list, state.base_list)
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
    reads: RunReads | None = None,
) -> ProposeResult:
    """Add `selected` (re-checked against the current list, PR and store) to the rolling PR; see module doc.

    With `reads`, the first attempt starts from the branch state select read (see lfmwatch.pr.reads).
    """
    from lfmwatch.adapters.github import ConflictError

    with store.lock("propose"):
        last: Exception | None = None
        for attempt in range(ATTEMPTS):
            try:
                state = _reused_state(reads, dry_run) if attempt == 0 else None
                return _attempt(store, config, session, selected, run_id=run_id, dry_run=dry_run, state=state,
                                reads=reads)
            except ConflictError as exc:
                # Someone pushed to the branch (or opened the PR) between our read and our write: re-read, redo.
                log.info("attempt %d: %s; re-reading the branch", attempt + 1, exc.message)
                last = exc
        raise GitHubError(
            f"the bot branch {config.target.branch} kept changing while lfmwatch wrote to it ({last})",
            "rerun lfmwatch propose when nobody is pushing to the branch",
        )


def _reused_state(reads: RunReads | None, dry_run: bool) -> BranchState | None:
    """Select's read of the branch, when still true: an open PR is re-read once (closed or pushed to since?)."""
    state = reads.take_state() if reads is not None else None
    if state is None or state.open_pr is None or dry_run:
        return state
    pr = state.target.get_pull(state.open_pr.number)
    if pr.state != "open" or pr.head_sha != state.branch_sha:
        return None
    state.open_pr = pr  # its body and labels as they are now
    return state


def _attempt(store: Store, config: Config, session: GitHubSession, selected: Sequence[Mapping[str, Any]], *,
             run_id: int | None, dry_run: bool, state: BranchState | None = None,
             reads: RunReads | None = None) -> ProposeResult:
    from lfmwatch.awesome import insert_entries, parse_list
    from lfmwatch.pr.body import render_pr_body

    t = config.target
    exclude = tuple(t.exclude_sections)
    if state is None:
        state = read_state(session, config, allow_merge=not dry_run, reads=reads)
    refiled = refile(store, state, exclude, dry_run=dry_run)
    chosen, counts = _select(store, config, state, selected)
    res = insert_entries(state.work_text, new_entries(chosen), exclude=exclude)
    inserted = {paper_key(n.arxiv_id) for n in res.inserted}
    added_now = [p for p in chosen if p["id"] in inserted]
    new_text = res.text
    new_list = parse_list(new_text, exclude=exclude)
    in_pr = added_entries(new_list, state.base_list)
    result = ProposeResult(skipped=counts, refused=[(n.arxiv_id, r) for n, r in res.refused],
                           proposed=[p["id"] for p in added_now], errors=list(refiled))
    if not dry_run and state.closed_pr is not None and state.closed_entries:
        # Papers of the closed PR the store lost: recorded in it, so that sync rejects them (known ones keep theirs).
        known = {e.arxiv_id for e in state.closed_entries if proposal(store, e.arxiv_id) is not None}
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
        head_sha = write_branch(state, new_text, added_now, t.readme)
    result.commit = head_sha if commit_needed else None
    pr = state.open_pr
    if pr is None:
        pr = open_pull(state, t.pr_title, result.body)
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


def _label(state: BranchState, pr: PullInfo, labels: list[str], result: ProposeResult) -> None:
    """Labels are a courtesy: without triage rights on the target (fork mode) the PR goes out unlabelled."""
    from lfmwatch.adapters.github import PermissionDenied

    try:
        state.target.ensure_labels(labels)
        if set(labels) - set(pr.labels):
            state.target.add_labels(pr.number, labels)
    except PermissionDenied as exc:
        result.errors.append(f"labels not set: {exc.message} (needs triage/'Issues: write' on "
                             f"{state.target.full_name}; or set target.labels = [])")


