"""Read the outcome of the bot's pull requests into feedback labels, and act on reviewers' commands (`lfmwatch sync`).

For every bot PR not yet synced as final:
- comment commands first (lfmwatch.pr.commands): `/lfmwatch ignore ID` and `/lfmwatch move ID SECTION` from the
  repository's owners, members and collaborators are recorded as feedback (source `comment#ID`); on an open PR the
  line is removed / moved on the branch, a commit of its own; every command comment is answered once. A ticked
  "reject" box in the PR body rejects that paper (source `checkbox#N`) and removes its line.
- authorship: lines on the branch that the bot never selected and that a commit not written by lfmwatch added are
  the reviewers' own (proposals status `reviewer`): not proposals, not in the acceptance rate.
- merged: the README at the merge commit is the truth. A bot paper still in it is `accepted` in the section where it
  is, or `moved` when that differs from the section the bot proposed; a paper no longer in it was removed by a
  reviewer: `rejected` (or stays `ignored` when a command ignored it). A reviewer's own line still in it is
  recorded as `added` in its section. Only these `pr#N` rows are "merged into the list" for the digest.
- closed without merging: every paper of the PR is decided and never proposed again; a line a reviewer removed
  from the branch before closing is `rejected`, the others are `closed` (a weak negative for training: closing
  a whole PR says less about each paper than removing its line).
- open: the README on the PR's head tells what reviewers changed so far (reported, not recorded).
Feedback rows are idempotent (unique source, paper_id), so running sync twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lfmwatch.records import section_path, utcnow
from lfmwatch.store.db import Store
from lfmwatch.store.ledger import (
    known_pulls,
    pr_proposals,
    record_feedback,
    refile_proposals,
    save_pull,
    set_proposal_status,
)
from lfmwatch.store.review import REVIEWER, bot_selected, mark_reviewer_lines

if TYPE_CHECKING:
    from lfmwatch.adapters.github import GitHubRepo, GitHubSession, PullInfo
    from lfmwatch.awesome import AwesomeList
    from lfmwatch.config import Config
    from lfmwatch.pr.reads import RunReads

log = logging.getLogger(__name__)

@dataclass
class SyncResult:
    """What sync found and recorded."""

    pulls: list[dict[str, Any]] = field(default_factory=list)  # number, state, and per-PR outcome counts
    counts: dict[str, int] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)  # open PRs: removed/moved so far (not recorded)
    decisions: list[tuple[int, str, str, str | None]] = field(default_factory=list)  # (pr, paper, outcome, section)
    answers: list[tuple[int, int, str, str]] = field(default_factory=list)  # (pr, comment, user, done|error|refused)
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the terminal."""
        if not self.pulls:
            return "nothing to sync: the bot has no pull request waiting for an outcome"
        c = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v and k != "pulls")
        return f"synced {len(self.pulls)} pull request(s)" + (f": {c}" if c else ": no new outcome")

    def details(self) -> list[str]:
        """One line per paper decided and per command comment answered (for `lfmwatch sync`)."""
        out = [f"#{n} {pid}: {label}" + (f" in {section}" if section else "")
               for n, pid, label, section in self.decisions]
        out += [f"#{n} comment {cid} by {user}: {outcome}" for n, cid, user, outcome in self.answers]
        return out


def _bump(counts: dict[str, int], key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


def sync(store: Store, config: Config, session: GitHubSession, *, dry_run: bool = False,
         reads: RunReads | None = None) -> SyncResult:
    """Sync every bot PR that has no final outcome recorded yet (see the module doc).

    With `reads` (the daily run's cache) the base README is read at the base head's commit and kept for propose.
    """
    from lfmwatch.awesome import parse_list

    t = config.target
    target = session.repo(t.repo)
    # propose pushes to the target itself when it may, to the fork only when it may not: look under both heads.
    head_owners = dict.fromkeys([target.owner, *([t.fork.split("/")[0]] if t.fork else [])])
    result = SyncResult(counts=dict.fromkeys(("accepted", "moved", "rejected", "closed", "ignored", "added",
                                              "commands", "unauthorized", "unknown", "reviewer_lines"), 0))
    # Discover the bot's PRs on GitHub too (the store may have lost a row, or a run died before recording it).
    known = known_pulls(store)
    discovered = [pr for owner in head_owners for pr in target.find_pulls(f"{owner}:{t.branch}", state="all")]
    for pr in discovered:
        if pr.number not in known and not dry_run:
            save_pull(store, pr, t.repo, t.branch, state=pr.state, created=pr.created)
        known.setdefault(pr.number, {"number": pr.number, "synced_at": None, "state": pr.state})
    todo = sorted(n for n, r in known.items() if not (r.get("synced_at") and r.get("state") in ("merged", "closed")))
    if not todo:
        return result
    base = t.base_branch or target.default_branch
    if reads is None:
        base_file = target.read_file(t.readme, base)
    else:
        base_sha = reads.base_head(target, base)
        base_file = reads.read_file(target, t.readme, base_sha) if base_sha else None
    lst = parse_list(base_file.text, exclude=tuple(t.exclude_sections)) if base_file else None
    sections = [s for s in (section_path(x) for x in lst.paper_sections()) if s] if lst else []
    for number in todo:
        pr = target.get_pull(number)
        outcome: dict[str, Any] = {"number": number, "state": "merged" if pr.merged else pr.state}
        _commands(store, session, config, target, pr, sections, result, dry_run)
        if pr.merged or pr.state == "open":
            _authorship(store, config, target, pr, lst, result, dry_run, reads)
        if pr.merged:
            _merged(store, config, target, pr, result, outcome, dry_run)
        elif pr.state == "closed":
            _closed(store, config, target, pr, result, outcome, dry_run)
        else:
            result.pending.append(_open_report(store, config, target, pr, reads))
        if not dry_run:
            final = pr.merged or pr.state == "closed"
            save_pull(store, pr, t.repo, t.branch, state=outcome["state"], updated=pr.updated,
                      closed_at=pr.closed_at, synced_at=utcnow() if final else None)
        result.pulls.append(outcome)
    result.counts["pulls"] = len(result.pulls)
    return result


def sync_pulls(store: Store, config: Config, session: GitHubSession, *, dry_run: bool = False,
               reads: RunReads | None = None) -> dict[str, int]:
    """`sync` for the daily run: just the counts."""
    return dict(sync(store, config, session, dry_run=dry_run, reads=reads).counts)


def _decide(store: Store, row: dict[str, Any], label: str, section: str | None, number: int,
            result: SyncResult, outcome: dict[str, Any], dry_run: bool, *, status: str | None = None,
            source: str | None = None) -> None:
    _bump(result.counts, label)
    _bump(outcome, label)
    result.decisions.append((number, row["paper_id"], label, section))
    if dry_run:
        return
    with store.atomic():
        record_feedback(store, row["paper_id"], label, source or f"pr#{number}", section=section,
                        proposed_section=row["section"] if row.get("status") != REVIEWER else None)
        set_proposal_status(store, row["paper_id"], status or label)


def _merged(store: Store, config: Config, target: GitHubRepo, pr: PullInfo, result: SyncResult,
            outcome: dict[str, Any], dry_run: bool) -> None:
    from lfmwatch.awesome import parse_list

    t = config.target
    ref = pr.merge_commit_sha or pr.base_ref
    f = target.read_file(t.readme, ref)
    if f is None:
        result.errors.append(f"PR #{pr.number}: {t.readme} not found at {ref}")
        return
    lst = parse_list(f.text, exclude=tuple(t.exclude_sections))
    sections = set(lst.paper_sections())
    for row in pr_proposals(store, pr.number):
        e = lst.find(arxiv_id=row["paper_id"]) or (lst.find(title=row["title"]) if row.get("title") else None)
        where = section_path(e.section) if e is not None else None
        if row["status"] == REVIEWER:
            if e is not None:  # a reviewer's own line: in the list, but not the bot's proposal
                _decide(store, row, "added", where, pr.number, result, outcome, dry_run, status=REVIEWER)
            continue
        if row["status"] not in ("proposed", "selected", "ignored"):
            continue
        if e is None and row["status"] == "ignored":
            continue  # an ignore command removed it: it stays ignored
        if e is None and row["section"] and row["section"] not in sections:
            # Its section is gone from the merged list (renamed or removed upstream): that says nothing about
            # the paper, so it is no rejection (a hard negative for training); it is reported and set free.
            _bump(result.counts, "unfiled")
            _bump(outcome, "unfiled")
            result.errors.append(f"PR #{pr.number}: {row['paper_id']} not in the merged list and its section "
                                 f"{row['section']!r} is gone: not counted as rejected")
            if not dry_run:
                refile_proposals(store, [], [row["paper_id"]])
        elif e is None:
            _decide(store, row, "rejected", None, pr.number, result, outcome, dry_run)
        else:
            # The list as merged has the last word: the section where the line is, whatever a command said.
            label = "accepted" if where == row["section"] else "moved"
            _decide(store, row, label, where, pr.number, result, outcome, dry_run)


def _closed(store: Store, config: Config, target: GitHubRepo, pr: PullInfo, result: SyncResult,
            outcome: dict[str, Any], dry_run: bool) -> None:
    """A PR closed without merging: its papers are decided (never proposed again). A line a reviewer removed from
    the branch before closing is a rejection; the rest is `closed`, a weak negative for training."""
    from lfmwatch.awesome import parse_list

    t = config.target
    f = target.read_file(t.readme, pr.head_sha) if pr.head_sha else None
    lst = parse_list(f.text, exclude=tuple(t.exclude_sections)) if f is not None else None
    for row in pr_proposals(store, pr.number):
        if row["status"] in ("proposed", "selected"):
            if lst is not None and lst.find(arxiv_id=row["paper_id"]) is None:
                # Its own source: a `rejected` row under plain `pr#N` of a closed PR is the old whole-PR rejection.
                _decide(store, row, "rejected", None, pr.number, result, outcome, dry_run,
                        source=f"pr#{pr.number}/removed")
            else:
                _decide(store, row, "closed", None, pr.number, result, outcome, dry_run, status="rejected")


def _commands(store: Store, session: GitHubSession, config: Config, target: GitHubRepo, pr: PullInfo,
              sections: list[str], result: SyncResult, dry_run: bool) -> None:
    """Act on and answer the PR's command comments (lfmwatch.pr.commands)."""
    from lfmwatch.pr.commands import editor_for, handle_checkboxes, handle_comments

    def decided(pid: str, label: str, section: str | None) -> None:
        result.decisions.append((pr.number, pid, label, section))

    try:
        editor = editor_for(session, config, target, pr)
        handled = handle_comments(store, target, pr, target.comments(pr.number), sections, editor, dry_run=dry_run,
                                  on_decision=decided)
        rejected = handle_checkboxes(store, pr, editor, dry_run=dry_run, on_decision=decided)
    except Exception as exc:  # a command must never stop the outcomes of the PR from being read
        from lfmwatch.errors import LfmwatchError

        if not isinstance(exc, LfmwatchError):
            raise
        result.errors.append(f"PR #{pr.number}: commands not handled: {exc.message}")
        return
    _bump(result.counts, "rejected", len(rejected))
    for h in handled:
        result.answers.append((pr.number, h.comment.id, h.comment.user, h.outcome))
        if h.outcome == "refused":
            _bump(result.counts, "unauthorized")
            continue
        _bump(result.counts, "commands", len(h.applied))
        _bump(result.counts, "ignored", sum(1 for v, _, _ in h.applied if v == "ignore"))
        if h.problems:
            _bump(result.counts, "unknown", len(h.problems))
            result.errors += [f"PR #{pr.number} comment {h.comment.id}: {p}" for p in h.problems]


def _authorship(store: Store, config: Config, target: GitHubRepo, pr: PullInfo, base: AwesomeList | None,
                result: SyncResult, dry_run: bool, reads: RunReads | None = None) -> None:
    """Mark the PR's lines that reviewers wrote themselves (status `reviewer`); see the module doc."""
    from lfmwatch.adapters.github_review import pull_commits
    from lfmwatch.awesome import parse_list
    from lfmwatch.pr.branch import BOT_COMMIT_PREFIX

    t = config.target
    exclude = tuple(t.exclude_sections)
    head_text = _read(target, config, pr, pr.head_sha, reads)
    if head_text is None:
        return
    head = parse_list(head_text, exclude)
    on_branch = {e.arxiv_id: e for e in head.entries if e.arxiv_id}
    rows = {r["paper_id"]: r for r in pr_proposals(store, pr.number)}
    # The PR's lines: on the branch but not in the base list (open), or recorded in the PR (merged).
    mine = {pid for pid, r in rows.items() if r["status"] == "proposed"}
    if pr.state == "open" and base is not None:
        mine |= {pid for pid in on_branch if base.find(arxiv_id=pid) is None}
    unknown = {pid for pid in mine & set(on_branch) if rows.get(pid, {}).get("status") != REVIEWER}
    unknown -= bot_selected(store, unknown)
    if not unknown:
        return  # every line is the bot's: no need to read the commits
    added: dict[str, str] = {}
    for c in pull_commits(target, pr.number):
        if c.message.startswith(BOT_COMMIT_PREFIX) or len(c.parents) != 1:
            continue  # the bot's own commits, and merges (which bring the base's lines)
        after, before = _read(target, config, pr, c.sha), _read(target, config, pr, c.parents[0])
        if after is None:
            continue
        old = {e.arxiv_id for e in parse_list(before or "", exclude).entries if e.arxiv_id}
        for e in parse_list(after, exclude).entries:
            if e.arxiv_id and e.arxiv_id not in old and e.arxiv_id in unknown:
                added.setdefault(e.arxiv_id, c.author)
    lines = [(pid, section_path(on_branch[pid].section), on_branch[pid].title, who) for pid, who in added.items()]
    if lines and not dry_run:
        marked = mark_reviewer_lines(store, pr.number, lines)
        _bump(result.counts, "reviewer_lines", len(marked))


def _read(target: GitHubRepo, config: Config, pr: PullInfo, ref: str | None,
          reads: RunReads | None = None) -> str | None:
    """The README at commit `ref` of the PR's head repository (through the run's cache when given)."""
    if not ref:
        return None
    repo = target if pr.head_owner == target.owner or not config.target.fork else target.session.repo(
        config.target.fork)
    f = reads.read_file(repo, config.target.readme, ref) if reads is not None else repo.read_file(
        config.target.readme, ref)
    return f.text if f else None


def _open_report(store: Store, config: Config, target: GitHubRepo, pr: PullInfo,
                 reads: RunReads | None = None) -> dict[str, Any]:
    """Which of the PR's papers reviewers removed or moved so far (nothing is recorded for an open PR)."""
    from lfmwatch.awesome import parse_list

    t = config.target
    report: dict[str, Any] = {"number": pr.number, "removed": [], "moved": []}
    text = _read(target, config, pr, pr.head_sha, reads)
    if text is None:
        return report
    lst: AwesomeList = parse_list(text, exclude=tuple(t.exclude_sections))
    for row in pr_proposals(store, pr.number):
        if row["status"] != "proposed":
            continue
        e = lst.find(arxiv_id=row["paper_id"])
        if e is None:
            report["removed"].append(row["paper_id"])
        elif section_path(e.section) != row["section"]:
            report["moved"].append((row["paper_id"], section_path(e.section)))
    return report
