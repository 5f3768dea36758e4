"""The rolling pull request's body: papers grouped by section, plus how reviewers steer the bot (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from lfmwatch.ids import exact_arxiv_id
from lfmwatch.textsafe import md_inline

#: Hidden marker that identifies the bot's pull request body (also survives a reviewer editing the text).
MARKER = "<!-- lfmwatch:rolling-pr -->"

FOOTER = """\
---
**How to steer lfmwatch** (it reads this PR on its next `lfmwatch sync`):
- **Remove a line** from the README on this branch to reject that paper; it will not be proposed again.
- **Move a line** to another section to correct it; the bot learns the section you chose.
- **Close this PR** without merging to reject all of its papers.
- **Comment** `/lfmwatch ignore ARXIV_ID` so a paper is never proposed again (remove its line too: a merged line \
counts as accepted), or `/lfmwatch move ARXIV_ID SECTION > PATH` to record the right section without editing \
the file. Commands count from the repository's owners, members and collaborators.
- **Push your own commits** to this branch freely: lfmwatch adds new papers on top and never force-pushes over them.
- **Merge** when happy: every line still in the README is learned as accepted, in the section where it is."""


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


def render_paper(paper: Mapping[str, Any]) -> str:
    """One paper as a bullet: escaped title, link, score, reason words and summary."""
    title = md_inline(str(paper.get("title") or "(untitled)"), max_len=300)
    head = f"- **{title}** — {arxiv_link(str(paper.get('id') or ''))}"
    if paper.get("score") is not None:
        head += f" · score {float(paper['score']):.2f}"
    lines = [head]
    words = why_words(paper.get("why"))
    if words:
        lines.append("  - why: " + ", ".join(md_inline(w, max_len=60) for w in words[:8]))
    if paper.get("summary"):
        lines.append("  - summary: " + md_inline(str(paper["summary"]), max_len=500))
    if paper.get("proposed_section") and paper.get("proposed_section") != paper.get("section"):
        lines.append("  - moved here from: " + md_inline(str(paper["proposed_section"])))
    return "\n".join(lines)


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
    slim = [{k: v for k, v in p.items() if k != "summary"} for p in papers]
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
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for p in papers:
        groups.setdefault(str(p.get("section") or "(no section)"), []).append(p)
    ordered = sorted(groups, key=lambda s: (rank.get(s, len(rank)), s))
    n = len(papers)
    out = [
        MARKER,
        f"lfmwatch proposes **{n} paper{'s' if n != 1 else ''}** for `{readme.replace('`', '')}`, "
        "grouped by the section each was added to. Entries follow the list's own style, appended at the end of "
        "their section; nothing else in the file changes.",
    ]
    budget = n if shown is None else shown
    for section in ordered:
        group = sorted(groups[section], key=_paper_order)
        if budget <= 0:
            break
        out += ["", f"### {md_inline(section)}", ""]
        out += [render_paper(p) for p in group[:budget]]
        budget -= len(group[:budget])
    if shown is not None and shown < n:
        out += ["", f"…and {n - shown} more paper{'s' if n - shown != 1 else ''}, not listed here to keep this "
                "description within GitHub's size limit: see the README diff."]
    out += ["", FOOTER, ""]
    return "\n".join(out)


def _paper_order(p: Mapping[str, Any]) -> tuple[float, str]:
    return (-float(p.get("score") or 0.0), str(p.get("id") or ""))
