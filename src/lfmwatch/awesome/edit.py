"""Insert new entries at the end of their sections, keeping every other byte of the README (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from lfmwatch.awesome.document import AwesomeList, InsertResult, NewEntry, Section
from lfmwatch.awesome.parse import is_blank, parse_list, split_lines
from lfmwatch.awesome.style import render_entry, section_blank_between, style_of
from lfmwatch.errors import ListError
from lfmwatch.ids import normalize_arxiv_id, normalize_title
from lfmwatch.textsafe import one_line


def _refusal(lst: AwesomeList, new: NewEntry, seen_ids: set[str], seen_titles: set[str]) -> str | None:
    arxiv_id = normalize_arxiv_id(new.arxiv_id or "")
    if not arxiv_id:
        return f"invalid arXiv id {new.arxiv_id!r}"
    title = one_line(new.title)
    if not normalize_title(title):
        return "empty title"
    try:
        sec = lst.section(new.section)
    except ListError as exc:
        return str(exc).replace("\n  hint: ", "; ")
    if sec.excluded:
        return f"section {sec.path!r} is excluded from papers (target.exclude_sections)"
    same = lst.find(arxiv_id=arxiv_id) or lst.find(title=title)
    if same is not None:
        return f"already in the list as {one_line(same.title, 120)!r} in {same.section} (line {same.start + 1})"
    if arxiv_id in lst.arxiv_lines:
        return f"arXiv {arxiv_id} already appears in the file (line {lst.arxiv_lines[arxiv_id] + 1})"
    if arxiv_id in seen_ids or normalize_title(title) in seen_titles:
        return "duplicate within this batch"
    return None


def _chunk(lines: list[str], at: int, body: list[str], eol: str, blank_before: bool, blank_after: bool) -> str:
    """Text to insert before lines[at]: the entries, with blank lines so they stay a separate list item."""
    parts: list[str] = []
    if blank_before and at > 0 and not is_blank(lines[at - 1]):
        parts.append("")
    parts.extend(body)
    nxt = lines[at] if at < len(lines) else None
    if blank_after and nxt is not None and not is_blank(nxt):
        parts.append("")
    if nxt is None and lines and not lines[-1].endswith(("\n", "\r")):
        # The file ends without a newline: keep it that way, the new text goes after the last line.
        return "".join(eol + p for p in parts)
    return "".join(p + eol for p in parts)


def _section_body(lst: AwesomeList, sec: Section, rendered: list[str], safe: bool) -> tuple[int, list[str], bool]:
    """(insertion line, lines to insert, whether a blank line must precede) for one section."""
    style = style_of(lst)
    blank = section_blank_between(style, sec)
    body: list[str] = []
    if sec.last_item_end is not None:
        at, first_blank = sec.last_item_end, blank
    else:
        at, first_blank = sec.body_start, style.blank_after_heading
    for i, line in enumerate(rendered):
        if i > 0 and blank:
            body.append("")
        body.append(line)
    return at, body, first_blank or safe


def _apply(text: str, lst: AwesomeList, plan: dict[str, list[NewEntry]], safe: bool) -> str:
    lines = split_lines(text)
    edits: list[tuple[int, str]] = []
    for path, news in plan.items():
        sec = lst.section(path)
        at, body, blank_before = _section_body(lst, sec, [render_entry(lst, n) for n in news], safe)
        nxt = lines[at] if at < len(lines) else None
        # A following paragraph or setext heading would be swallowed as a lazy continuation line.
        blank_after = safe or (nxt is not None and not is_blank(nxt) and not nxt.lstrip().startswith("#"))
        edits.append((at, _chunk(lines, at, body, lst.eol, blank_before, blank_after)))
    out = list(lines)
    for at, chunk in sorted(edits, key=lambda e: e[0], reverse=True):
        out.insert(at, chunk)
    return "".join(out)


def _verify(before: AwesomeList, text: str, exclude: list[str], plan: dict[str, list[NewEntry]]) -> bool:
    after = parse_list(text, exclude)
    old = Counter((e.section, e.arxiv_id, e.title) for e in before.entries)
    new = Counter((e.section, e.arxiv_id, e.title) for e in after.entries)
    added = new - old
    if old - new or sum(added.values()) != sum(len(v) for v in plan.values()):
        return False
    got = Counter((sec, aid) for sec, aid, _ in added.elements())
    want = Counter((before.section(p).path, normalize_arxiv_id(n.arxiv_id)) for p, ns in plan.items() for n in ns)
    return got == want


def insert_entries(
    text: str, new: Sequence[NewEntry], exclude: Iterable[str] = (), *, parsed: AwesomeList | None = None
) -> InsertResult:
    """Append `new` at the end of their sections in the list's style; refuse duplicates and unknown sections.

    `parsed` may pass `parse_list(text, exclude)` when the caller already has it (saves one parse).
    """
    exclude = list(exclude)
    lst = parsed if parsed is not None else parse_list(text, exclude)
    inserted: list[NewEntry] = []
    refused: list[tuple[NewEntry, str]] = []
    plan: dict[str, list[NewEntry]] = {}
    seen_ids: set[str] = set()
    seen_titles: set[str] = set()
    for item in new:
        reason = _refusal(lst, item, seen_ids, seen_titles)
        if reason:
            refused.append((item, reason))
            continue
        seen_ids.add(normalize_arxiv_id(item.arxiv_id) or "")
        seen_titles.add(normalize_title(one_line(item.title)))
        plan.setdefault(lst.section(item.section).path, []).append(item)
        inserted.append(item)
    if not plan:
        return InsertResult(text, [], refused)
    for safe in (False, True):
        result = _apply(text, lst, plan, safe)
        if _verify(lst, result, exclude, plan):
            return InsertResult(result, inserted, refused)
    # Some section cannot take an entry without changing how the list reads (an unclosed fence or comment
    # at its end, say): refuse that section's entries and keep the others.
    good: dict[str, list[NewEntry]] = {}
    for path, news in plan.items():
        if _verify(lst, _apply(text, lst, {path: news}, True), exclude, {path: news}):
            good[path] = news
        else:
            why = f"cannot be inserted into {path!r} without changing how the list reads (unclosed code fence or comment?)"
            refused.extend((n, why) for n in news)
    kept = [n for n in inserted if any(n in news for news in good.values())]
    if good:
        result = _apply(text, lst, good, True)
        if _verify(lst, result, exclude, good):
            return InsertResult(result, kept, refused)
    if not good:
        return InsertResult(text, [], refused)
    raise ListError(
        "the new entries could not be inserted without changing how the list parses",
        "report this README to the lfmwatch maintainers; nothing was changed",
    )
