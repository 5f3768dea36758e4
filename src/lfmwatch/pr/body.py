"""The rolling pull request's body: papers grouped by section, plus how reviewers steer the bot (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lfmwatch.ids import exact_arxiv_id
from lfmwatch.textsafe import md_inline

#: Hidden marker that identifies the bot's pull request body (also survives a reviewer editing the text).
MARKER = "<!-- lfmwatch:rolling-pr -->"

FOOTER = """\
---
**How to steer lfmwatch** (it reads this PR on its next `lfmwatch sync`, and answers every command):
- **Tick a paper's box** above to reject it: its line is removed from this branch and it is never proposed again.
- **Remove a line** from the README on this branch to reject that paper; it will not be proposed again.
- **Move a line** to another section to correct it; the bot learns the section you chose.
- **Close this PR** without merging to reject all of its papers.
- **Comment** `/lfmwatch ignore ARXIV_ID` (the line is removed, the paper never proposed again) or \
`/lfmwatch move ARXIV_ID SECTION > PATH` (the line is moved there), one per line. Commands count from the \
repository's owners, members and collaborators; the bot reacts when done and replies when it cannot act.
- **Push your own commits** to this branch freely: lfmwatch adds new papers on top and never force-pushes over them.
  Lines you add yourself are listed apart, never counted as the bot's proposals.
- **Merge** when happy: every line still in the README is learned as accepted, in the section where it is."""

#: The hidden tag after each paper's checkbox: sync finds ticked boxes by it.
BOX_TAG = "<!-- lfmwatch:paper:{id} -->"
_BOX = re.compile(r"^[ \t]*[-*][ \t]+\[[xX]\][^\n]*<!-- lfmwatch:paper:([^ >]+) -->", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def why_words(why: Any) -> list[str]:
    """The reason words of a prediction, from a list or its JSON text."""
    if isinstance(why, str):
        try:
            why = json.loads(why)
        except ValueError:
            return [why] if why else []
    if not isinstance(why, list | tuple):
        return []
    return [str(w) for w in why if w not in (None, "")]


def arxiv_link(paper_id: str) -> str:
    """A Markdown link to the paper's abstract page, or the escaped id when it is not an arXiv id."""
    arxiv_id = exact_arxiv_id(paper_id or "")
    if arxiv_id:
        return f"[arXiv:{arxiv_id}](https://arxiv.org/abs/{arxiv_id})"
    return md_inline(paper_id or "?")


def ticked(body: str) -> list[str]:
    """The ids whose "reject" box a reviewer ticked in the body."""
    return [exact_arxiv_id(m.group(1)) or m.group(1) for m in _BOX.finditer(body or "")]


def short_authors(authors: Any, n: int = 3) -> str:
    """`A. Alpha, B. Beta, C. Gamma et al.` from a list (or its JSON text)."""
    if isinstance(authors, str):
        try:
            authors = json.loads(authors)
        except ValueError:
            authors = [authors]
    names = [str(a).strip() for a in authors or [] if str(a).strip()] if isinstance(authors, list | tuple) else []
    return ", ".join(names[:n]) + (" et al." if len(names) > n else "")


def gist(paper: Mapping[str, Any], max_len: int = 300) -> str:
    """One sentence about the paper: its LLM summary when there is one, else the first sentence of its abstract."""
    if paper.get("summary"):
        return str(paper["summary"])
    text = " ".join(str(paper.get("abstract") or "").split())
    return _SENTENCE_END.split(text, maxsplit=1)[0][:max_len] if text else ""


def runner_up(paper: Mapping[str, Any]) -> tuple[str, float | None] | None:
    """The model's second-best section for the paper (path, probability), from its ranked `sections`."""
    ranked = paper.get("sections")
    if isinstance(ranked, str):
        try:
            ranked = json.loads(ranked)
        except ValueError:
            return None
    for item in ranked or []:
        if isinstance(item, list | tuple) and item and item[0] and item[0] != paper.get("section"):
            return str(item[0]), (float(item[1]) if len(item) > 1 and item[1] is not None else None)
    return None


def render_paper(paper: Mapping[str, Any], *, details: bool = True) -> str:
    """One paper: a reject box, escaped title, link and score; authors and gist; the rest collapsed."""
    pid = str(paper.get("id") or "")
    title = md_inline(str(paper.get("title") or "(untitled)"), max_len=300)
    head = f"- [ ] **{title}** — {arxiv_link(pid)}"
    if paper.get("score") is not None:
        head += f" · score {float(paper['score']):.2f}"
    if exact_arxiv_id(pid):
        head += " " + BOX_TAG.format(id=exact_arxiv_id(pid))
    lines = [head]
    who, what = short_authors(paper.get("authors")), gist(paper)
    if who or what:
        lines.append("  " + " — ".join(md_inline(x, max_len=300) for x in (who, what) if x))
    if not details:
        return "\n".join(lines)
    more = []
    second = runner_up(paper)
    if second:
        more.append("runner-up: " + md_inline(second[0]) + (f" ({second[1]:.2f})" if second[1] is not None else ""))
    words = why_words(paper.get("why"))
    if words:
        more.append("why: " + ", ".join(md_inline(w, max_len=60) for w in words[:8]))
    if paper.get("proposed_section") and paper.get("proposed_section") != paper.get("section"):
        more.append("moved here from: " + md_inline(str(paper["proposed_section"])))
    if more:
        lines += ["  <details><summary>details</summary>", "", *(f"  - {m}" for m in more), "", "  </details>"]
    return "\n".join(lines)


def render_reviewer_line(paper: Mapping[str, Any]) -> str:
    """A line a reviewer added to the branch: title, link, section and who added it (not a proposal)."""
    title = md_inline(str(paper.get("list_title") or paper.get("title") or "(untitled)"), max_len=300)
    by = f" · added by {md_inline(str(paper['added_by']), 60)}" if paper.get("added_by") else ""
    return f"- **{title}** — {arxiv_link(str(paper.get('id') or ''))} · {md_inline(str(paper.get('section') or ''))}{by}"


#: GitHub refuses a pull request body longer than 65,536 characters (422); stay well below it.
MAX_BODY = 60_000


def render_pr_body(
    papers: Sequence[Mapping[str, Any]],
    section_order: Sequence[str] = (),
    *,
    readme: str = "README.md",
    max_chars: int = MAX_BODY,
) -> str:
    """The whole body for the papers currently in the PR, grouped by section in the list's order.

    A body that would exceed `max_chars` (GitHub rejects long ones, which would fail every run) drops the
    summaries, then the reason words, then lists the papers after the first ones by count only.
    """
    body = _render(papers, section_order, readme)
    if len(body) <= max_chars:
        return body
    slim = [{k: v for k, v in p.items() if k not in ("summary", "abstract", "sections")} for p in papers]
    body = _render(slim, section_order, readme)
    if len(body) <= max_chars:
        return body
    slim = [{k: v for k, v in p.items() if k != "why"} for p in slim]
    keep = len(slim)
    while keep > 0:
        body = _render(slim, section_order, readme, shown=keep)
        if len(body) <= max_chars:
            return body
        keep = keep * 9 // 10 if keep > 10 else keep - 1
    return _render(slim, section_order, readme, shown=0)


def _render(papers: Sequence[Mapping[str, Any]], section_order: Sequence[str], readme: str,
            shown: int | None = None) -> str:
    rank = {s: i for i, s in enumerate(section_order)}
    own = [p for p in papers if p.get("origin") == "reviewer"]
    papers = [p for p in papers if p.get("origin") != "reviewer"]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for p in papers:
        groups.setdefault(str(p.get("section") or "(no section)"), []).append(p)
    ordered = sorted(groups, key=lambda s: (rank.get(s, len(rank)), s))
    n = len(papers)
    out = [
        MARKER,
        f"lfmwatch proposes **{n} paper{'s' if n != 1 else ''}** for `{readme.replace('`', '')}`, "
        "grouped by the section each was added to. Entries follow the list's own style, appended at the end of "
        "their section; nothing else in the file changes. Tick a box to reject that paper.",
    ]
    budget = n if shown is None else shown
    for section in ordered:
        group = sorted(groups[section], key=_paper_order)
        if budget <= 0:
            break
        out += ["", f"### {md_inline(section)}", ""]
        out += [render_paper(p, details=shown is None) for p in group[:budget]]
        budget -= len(group[:budget])
    if shown is not None and shown < n:
        out += ["", f"…and {n - shown} more paper{'s' if n - shown != 1 else ''}, not listed here to keep this "
                "description within GitHub's size limit: see the README diff."]
    if own:
        out += ["", f"### Added by reviewers ({len(own)})", "",
                "Lines people pushed to this branch themselves: kept as they are, not counted as lfmwatch's proposals.",
                ""]
        out += [render_reviewer_line(p) for p in sorted(own, key=lambda p: str(p.get("id")))]
    out += ["", FOOTER, ""]
    return "\n".join(out)


def _paper_order(p: Mapping[str, Any]) -> tuple[float, str]:
    return (-float(p.get("score") or 0.0), str(p.get("id") or ""))
