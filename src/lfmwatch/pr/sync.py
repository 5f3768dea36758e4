"""Read the outcome of the bot's pull requests into feedback labels (`lfmwatch sync`).

For every bot PR not yet synced as final:
- merged: the README at the merge commit is the truth. A paper of the PR still in it is `accepted` in the section
  where it ended up, or `moved` when that differs from the section the bot proposed (a corrected label); a paper
  no longer in it was removed by a reviewer: `rejected`.
- closed without merging: every paper of the PR is decided and never proposed again; a line a reviewer removed
  from the branch before closing is `rejected`, the others are `closed` (a weak negative for training: closing
  a whole PR says less about each paper than removing its line).
- open: the README on the PR's head tells what reviewers changed so far (reported, not recorded: they may still
  change their mind).
Comment commands, on any bot PR, one per line: `/lfmwatch ignore ARXIV_ID` and `/lfmwatch move ARXIV_ID SECTION`
(SECTION is a section path of the list, or a heading name that is unique in it). They count only from users
GitHub marks as the repository's OWNER, MEMBER or COLLABORATOR (`author_association`), so a drive-by commenter
cannot steer the bot; others' commands are counted as `unauthorized` and ignored. Comments are read before the
final outcome, so for a merged PR the README (the list as it now stands) has the last word: a paper still in it
is accepted even when a command ignored it, and a line moved in the file keeps the file's section; a `move` command
decides the section only of a line left where the bot put it.
Feedback rows are idempotent (unique source, paper_id), so running sync twice changes nothing the second time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lfmwatch.records import resolve_section, section_path, utcnow
from lfmwatch.store.db import Store
from lfmwatch.store.ledger import (
    known_pulls,
    pr_proposals,
    proposal_of,
    record_feedback,
    refile_proposals,
    save_pull,
    set_proposal_status,
)

if TYPE_CHECKING:
    from lfmwatch.adapters.github import GitHubRepo, GitHubSession, PullInfo
    from lfmwatch.config import Config

log = logging.getLogger(__name__)

TRUSTED = ("OWNER", "MEMBER", "COLLABORATOR")
_COMMAND = re.compile(r"^[ \t]*/lfmwatch[ \t]+(ignore|move)[ \t]+(\S+)(?:[ \t]+(.+?))?[ \t]*$", re.IGNORECASE | re.MULTILINE)


@dataclass
class SyncResult:
    """What sync found and recorded."""

    pulls: list[dict[str, Any]] = field(default_factory=list)  # number, state, and per-PR outcome counts
    counts: dict[str, int] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)  # open PRs: removed/moved so far (not recorded)
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the terminal."""
        if not self.pulls:
            return "nothing to sync: the bot has no pull request waiting for an outcome"
        c = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v and k != "pulls")
        return f"synced {len(self.pulls)} pull request(s)" + (f": {c}" if c else ": no new outcome")


def _bump(counts: dict[str, int], key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


def sync(store: Store, config: Config, session: GitHubSession, *, dry_run: bool = False) -> SyncResult:
    """Sync every bot PR that has no final outcome recorded yet (see the module doc)."""
    from lfmwatch.awesome import parse_list

    t = config.target
    target = session.repo(t.repo)
    # propose pushes to the target itself when it may, to the fork only when it may not: look under both heads.
    head_owners = dict.fromkeys([target.owner, *([t.fork.split("/")[0]] if t.fork else [])])
    result = SyncResult(counts=dict.fromkeys(("accepted", "moved", "rejected", "closed", "ignored", "commands",
                                              "unauthorized", "unknown"), 0))
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
    base_file = target.read_file(t.readme, t.base_branch or target.default_branch)
    lst = parse_list(base_file.text, exclude=tuple(t.exclude_sections)) if base_file else None
    sections = [s for s in (section_path(x) for x in lst.paper_sections()) if s] if lst else []
    for number in todo:
        pr = target.get_pull(number)
        outcome: dict[str, Any] = {"number": number, "state": "merged" if pr.merged else pr.state}
        moves = _commands(store, target, pr, sections, result, outcome, dry_run)
        if pr.merged:
            _merged(store, config, target, pr, result, outcome, dry_run, moves)
        elif pr.state == "closed":
            _closed(store, config, target, pr, result, outcome, dry_run)
        else:
            result.pending.append(_open_report(store, config, target, pr))
        if not dry_run:
            final = pr.merged or pr.state == "closed"
            save_pull(store, pr, t.repo, t.branch, state=outcome["state"], updated=pr.updated,
                      closed_at=pr.closed_at, synced_at=utcnow() if final else None)
        result.pulls.append(outcome)
    result.counts["pulls"] = len(result.pulls)
    return result


def sync_pulls(store: Store, config: Config, session: GitHubSession, *, dry_run: bool = False) -> dict[str, int]:
    """`sync` for the daily run: just the counts."""
    return dict(sync(store, config, session, dry_run=dry_run).counts)


def _decide(store: Store, row: dict[str, Any], label: str, section: str | None, source: str,
            result: SyncResult, outcome: dict[str, Any], dry_run: bool, status: str | None = None) -> None:
    _bump(result.counts, label)
    _bump(outcome, label)
    if dry_run:
        return
    with store.atomic():
        record_feedback(store, row["paper_id"], label, source, section=section, proposed_section=row["section"])
        set_proposal_status(store, row["paper_id"], status or label)


def _merged(store: Store, config: Config, target: GitHubRepo, pr: PullInfo, result: SyncResult,
            outcome: dict[str, Any], dry_run: bool, moves: dict[str, str] | None = None) -> None:
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
        if row["status"] not in ("proposed", "selected", "ignored"):
            continue
        e = lst.find(arxiv_id=row["paper_id"]) or (lst.find(title=row["title"]) if row.get("title") else None)
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
            _decide(store, row, "rejected", None, f"pr#{pr.number}", result, outcome, dry_run)
        else:
            where = section_path(e.section)
            if where == row["section"] and (moves or {}).get(row["paper_id"]):
                # The line stayed where the bot put it, but a reviewer's `/lfmwatch move` named the right section
                # ("record the right section without editing the file"): that is the label. A line moved in the
                # file itself keeps the file's section.
                where = (moves or {})[row["paper_id"]]
            label = "accepted" if where == row["section"] else "moved"
            _decide(store, row, label, where, f"pr#{pr.number}", result, outcome, dry_run)


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
                _decide(store, row, "rejected", None, f"pr#{pr.number}/removed", result, outcome, dry_run)
            else:
                _decide(store, row, "closed", None, f"pr#{pr.number}", result, outcome, dry_run, status="rejected")


_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")


def command_text(body: str) -> str:
    """The lines of a comment that may carry commands: not inside a fenced or indented code block, not quoted.

    An example in a code block or a quoted command (`> /lfmwatch ignore ...` in a reply) is not a command.
    """
    out: list[str] = []
    fence: str | None = None
    for line in body.splitlines():
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip().strip(fence[0]):
                fence = None
            out.append("")
            continue
        if m:
            fence = m.group(1)
            out.append("")
            continue
        quoted = line.lstrip().startswith(">")
        indented = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip()) >= 4
        out.append("" if quoted or indented else line)
    return "\n".join(out)


def _commands(store: Store, target: GitHubRepo, pr: PullInfo, sections: list[str], result: SyncResult,
              outcome: dict[str, Any], dry_run: bool) -> dict[str, str]:
    """Apply the trusted comment commands; returns paper id -> section of its latest `move` command."""
    from lfmwatch.ids import normalize_arxiv_id

    moves: dict[str, str] = {}
    for c in target.comments(pr.number):
        for m in _COMMAND.finditer(command_text(c.body)):
            verb, raw_id, arg = m.group(1).lower(), m.group(2), m.group(3)
            if c.association.upper() not in TRUSTED:
                _bump(result.counts, "unauthorized")
                continue
            pid = normalize_arxiv_id(raw_id)
            if pid is None:  # only a real arXiv id may reach the store (`../../etc/passwd';` is no paper)
                _bump(result.counts, "unknown")
                result.errors.append(f"PR #{pr.number} comment {c.id}: {raw_id[:40]!r} is not an arXiv id")
                continue
            row = proposal_of(store, pid)
            proposed = row[0] if row else None
            source = f"comment#{c.id}"
            if verb == "ignore":
                if dry_run:
                    _bump(result.counts, "commands")
                    continue
                with store.atomic():
                    if record_feedback(store, pid, "ignored", source, proposed_section=proposed):
                        set_proposal_status(store, pid, "ignored")
                        _bump(result.counts, "commands")  # counted once: comments are re-read every sync
                        _bump(result.counts, "ignored")
                continue
            section = resolve_section(arg or "", sections)
            if section is None:
                _bump(result.counts, "unknown")
                result.errors.append(f"PR #{pr.number} comment {c.id}: unknown section {arg!r} for {pid}")
                continue
            moves[pid] = section
            if dry_run or record_feedback(store, pid, "moved", source, section=section, proposed_section=proposed):
                _bump(result.counts, "commands")
    return moves


def _open_report(store: Store, config: Config, target: GitHubRepo, pr: PullInfo) -> dict[str, Any]:
    """Which of the PR's papers reviewers removed or moved so far (nothing is recorded for an open PR)."""
    from lfmwatch.awesome import parse_list

    t = config.target
    report: dict[str, Any] = {"number": pr.number, "removed": [], "moved": []}
    f = target.read_file(t.readme, pr.head_sha) if pr.head_sha else None
    if f is None:
        return report
    lst = parse_list(f.text, exclude=tuple(t.exclude_sections))
    for row in pr_proposals(store, pr.number):
        if row["status"] != "proposed":
            continue
        e = lst.find(arxiv_id=row["paper_id"])
        if e is None:
            report["removed"].append(row["paper_id"])
        elif section_path(e.section) != row["section"]:
            report["moved"].append((row["paper_id"], section_path(e.section)))
    return report
