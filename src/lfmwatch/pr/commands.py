"""Reviewers' `/lfmwatch` comment commands on the bot's pull requests: parse, act on the branch, answer.

Commands, one per line of a PR conversation comment:

    /lfmwatch ignore ARXIV_ID            never propose the paper again; on an open PR its line is removed
    /lfmwatch move ARXIV_ID SECTION      file the paper under SECTION (a path `A > B > C`, or a heading that ends
                                         exactly one path); on an open PR its line is moved there

They count from users GitHub marks OWNER, MEMBER or COLLABORATOR (`author_association`). Every comment with a
command is answered once (the store remembers it): a +1 reaction when everything was recorded (and a rocket when
the branch was edited), a short reply when it was refused (no write access) or could not be understood (which
line, why, and how to write it, with the closest section names). The bot's own replies carry a marker and are never
read as commands. Each branch edit is a commit of its own on top of what the bot read (a reviewer pushing at the
same time makes it re-read and redo, never overwrite).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lfmwatch.ids import normalize_arxiv_id
from lfmwatch.records import resolve_section
from lfmwatch.store.db import Store
from lfmwatch.store.ledger import record_feedback, set_proposal_status
from lfmwatch.store.review import command_outcome, proposal, set_command_outcome
from lfmwatch.textsafe import md_inline

if TYPE_CHECKING:
    from lfmwatch.adapters.github import CommentInfo, GitHubRepo, PullInfo

log = logging.getLogger(__name__)

TRUSTED = ("OWNER", "MEMBER", "COLLABORATOR")
REPLY_MARKER = "<!-- lfmwatch:reply -->"
_LINE = re.compile(r"^[ \t]*/lfmwatch\b(?P<rest>[^\r\n]*)$", re.IGNORECASE | re.MULTILINE)
SYNTAX = ("`/lfmwatch ignore ARXIV_ID` or `/lfmwatch move ARXIV_ID SECTION` (one per line; SECTION is a path such "
          "as `Model Tuning > Weight Enginerring > Fine Tuning`, or a heading that is unique in the list)")
ATTEMPTS = 3


@dataclass(frozen=True)
class Command:
    """One `/lfmwatch` line: what it asks, or why it cannot be understood."""

    line: str
    verb: str | None = None  # ignore | move
    paper: str | None = None
    section: str | None = None  # move: the resolved section path
    error: str | None = None


@dataclass
class Handled:
    """What one comment's commands did."""

    comment: CommentInfo
    outcome: str  # done | error | refused
    applied: list[tuple[str, str, str | None]] = field(default_factory=list)  # (verb, paper, section)
    problems: list[str] = field(default_factory=list)
    edited: bool = False


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


def closest_sections(name: str, sections: Sequence[str], n: int = 3) -> list[str]:
    """Section paths that look like `name` (by whole path or by heading), best first."""
    leaf = {s.rsplit(" > ", 1)[-1].lower(): s for s in sections}
    by_leaf = [leaf[k] for k in difflib.get_close_matches(name.rsplit(">", 1)[-1].strip().lower(), list(leaf), n,
                                                            0.5)]
    by_path = difflib.get_close_matches(name, list(sections), n, 0.5)
    ambiguous = [s for s in sections if s.lower().endswith(" > " + name.strip().lower())]
    return list(dict.fromkeys(ambiguous + by_leaf + by_path))[:n]


def parse_commands(body: str, sections: Sequence[str]) -> list[Command]:
    """Every `/lfmwatch` line of a comment, understood or with the reason it is not."""
    out = []
    for m in _LINE.finditer(command_text(body or "")):
        line = m.group(0).strip()
        parts = m.group("rest").split(None, 2)
        verb = parts[0].lower() if parts else ""
        if verb not in ("ignore", "move"):
            what = f"unknown command {parts[0]!r}" if parts else "no command after /lfmwatch"
            out.append(Command(line, error=what))
            continue
        pid = normalize_arxiv_id(parts[1]) if len(parts) > 1 else None
        if pid is None:
            got = f"{parts[1]!r} is not an arXiv id" if len(parts) > 1 else "the arXiv id is missing"
            out.append(Command(line, verb, error=f"{got} (an id looks like 2401.01234)"))
            continue
        if verb == "ignore":
            extra = parts[2].strip() if len(parts) > 2 else ""
            out.append(Command(line, verb, pid) if not extra else
                       Command(line, verb, pid, error=f"`ignore` takes only the id (got also {extra!r})"))
            continue
        arg = parts[2].strip() if len(parts) > 2 else ""
        section = resolve_section(arg, list(sections)) if arg else None
        if section is None:
            close = closest_sections(arg, sections) if arg else []
            why = f"unknown section {arg!r}" if arg else "the section is missing"
            hint = (" — did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else ""
            out.append(Command(line, verb, pid, error=why + hint))
            continue
        out.append(Command(line, verb, pid, section))
    return out


@dataclass
class BranchEditor:
    """Edits the README on an open PR's branch, one commit per comment (re-read and redone on a concurrent push)."""

    repo: GitHubRepo
    branch: str
    readme: str
    exclude: tuple[str, ...]

    def apply(self, edits: Sequence[tuple[str, str, str | None]], message: str) -> tuple[list[str], str | None]:
        """Apply (verb, paper, section) edits; returns (problems, new head sha or None when nothing changed)."""
        from lfmwatch.adapters.github import ConflictError
        from lfmwatch.awesome.review_edit import move_entry, remove_entry

        last: Exception | None = None
        for _ in range(ATTEMPTS):
            f = self.repo.read_file(self.readme, self.branch)
            if f is None:
                return [f"{self.readme} is missing on {self.branch}"], None
            text, problems = f.text, []
            for verb, pid, section in edits:
                res = remove_entry(text, pid, self.exclude) if verb == "ignore" else \
                    move_entry(text, pid, section or "", self.exclude)
                if res.changed:
                    text = res.text
                elif res.refused not in ("already there", f"{pid} is not in the list"):
                    problems.append(f"{pid}: the line could not be changed ({res.refused})")
            if text == f.text:
                return problems, None
            try:
                return problems, self.repo.put_file(self.readme, self.branch, text, message, f.sha)
            except ConflictError as exc:  # someone pushed meanwhile: read again, never overwrite their commit
                last = exc
        return [f"the branch kept changing while lfmwatch edited it ({last})"], None


def handle_comments(store: Store, target: GitHubRepo, pr: PullInfo, comments: Sequence[CommentInfo],
                    sections: Sequence[str], editor: BranchEditor | None, *, dry_run: bool = False,
                    on_decision: Callable[[str, str, str | None], None] | None = None) -> list[Handled]:
    """Act on every command comment not answered yet; record feedback, edit the branch (open PR), answer."""
    out = []
    for c in comments:
        if REPLY_MARKER in c.body or command_outcome(store, target.full_name, c.id):
            continue
        commands = parse_commands(c.body, sections)
        if not commands:
            continue
        if c.association.upper() not in TRUSTED:
            h = Handled(c, "refused")
            h.problems.append(f"{c.user} cannot steer lfmwatch here: commands count from the repository's owners, "
                              "members and collaborators (people with write access).")
        else:
            h = _apply(store, pr, c, commands, editor, dry_run, on_decision)
        out.append(h)
        if not dry_run:
            _answer(target, pr, h)
            set_command_outcome(store, target.full_name, c.id, h.outcome)
    return out


def _apply(store: Store, pr: PullInfo, c: CommentInfo, commands: Sequence[Command], editor: BranchEditor | None,
           dry_run: bool, on_decision: Callable[[str, str, str | None], None] | None) -> Handled:
    h = Handled(c, "done")
    source = f"comment#{c.id}"
    for cmd in commands:
        if cmd.error or cmd.paper is None or cmd.verb is None:
            h.problems.append(f"{cmd.line!r}: {cmd.error}")
            continue
        row = proposal(store, cmd.paper)
        proposed = row["section"] if row else None
        h.applied.append((cmd.verb, cmd.paper, cmd.section))
        if on_decision:
            on_decision(cmd.paper, "ignored" if cmd.verb == "ignore" else "moved", cmd.section)
        if dry_run:
            continue
        with store.atomic():
            if cmd.verb == "ignore":
                if record_feedback(store, cmd.paper, "ignored", source, proposed_section=proposed):
                    set_proposal_status(store, cmd.paper, "ignored")
            else:
                record_feedback(store, cmd.paper, "moved", source, section=cmd.section, proposed_section=proposed)
    if h.applied and editor is not None and pr.state == "open" and not pr.merged and not dry_run:
        what = "; ".join(f"remove {p}" if v == "ignore" else f"move {p} to {s}" for v, p, s in h.applied)
        message = f"lfmwatch: {what}\n\nAs asked by {c.user} in comment {c.id} on #{pr.number}."
        problems, sha = editor.apply(h.applied, message)
        h.problems += problems
        h.edited = sha is not None
    if h.problems:
        h.outcome = "error"
    return h


def reply_text(h: Handled) -> str:
    """The short reply to a refused or partly understood comment (escaped; never a command line itself)."""
    lines = [REPLY_MARKER]
    if h.outcome == "refused":
        lines.append(md_inline(h.problems[0], 400))
        return "\n".join(lines)
    if h.applied:
        done = ", ".join(f"ignored {p}" if v == "ignore" else f"moved {p} to {s}" for v, p, s in h.applied)
        lines.append(f"Done: {md_inline(done, 600)}.")
    lines.append("lfmwatch could not act on:")
    lines += [f"- {md_inline(p, 400)}" for p in h.problems]
    lines.append(f"Write {SYNTAX}.")
    return "\n".join(lines)


def _answer(target: GitHubRepo, pr: PullInfo, h: Handled) -> None:
    from lfmwatch.adapters.github_review import react, reply

    if h.applied and not h.problems:
        react(target, pr.number, h.comment.id, "+1")
    if h.edited:
        react(target, pr.number, h.comment.id, "rocket")
    if h.problems:
        if h.outcome == "error":
            react(target, pr.number, h.comment.id, "confused")
        reply(target, pr.number, reply_text(h))


def editor_for(session: Any, config: Any, target: GitHubRepo, pr: PullInfo) -> BranchEditor | None:
    """The editor of an open PR's branch (the fork's when the PR comes from it); None for closed PRs."""
    if pr.state != "open" or pr.merged:
        return None
    t = config.target
    head = target if pr.head_owner == target.owner else session.repo(t.fork or f"{pr.head_owner}/{target.full_name.split('/')[1]}")
    return BranchEditor(head, pr.head_ref, t.readme, tuple(t.exclude_sections))


def handle_checkboxes(store: Store, pr: PullInfo, editor: BranchEditor | None, *, dry_run: bool = False,
                      on_decision: Callable[[str, str, str | None], None] | None = None) -> list[str]:
    """Reject the papers whose box a reviewer ticked in the PR body (only people with write access can edit it):
    feedback `rejected` (source `checkbox#N`), and on an open PR the line is removed in a commit of its own."""
    from lfmwatch.pr.body import ticked

    done = []
    for pid in ticked(pr.body):
        row = proposal(store, pid)
        if row is None or row["status"] not in ("proposed", "selected") or row.get("pr_number") != pr.number:
            continue  # decided already (a rerun, or a command), or not this PR's paper
        if on_decision:
            on_decision(pid, "rejected", None)
        if dry_run:
            continue
        with store.atomic():
            record_feedback(store, pid, "rejected", f"checkbox#{pr.number}", proposed_section=row["section"])
            set_proposal_status(store, pid, "rejected")
        done.append(pid)
    if done and editor is not None and pr.state == "open" and not dry_run:
        editor.apply([("ignore", pid, None) for pid in done],
                     f"lfmwatch: remove {', '.join(done)}\n\nRejected by ticking the box in #{pr.number}.")
    return done
