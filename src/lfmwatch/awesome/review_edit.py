"""Reviewers' commands as README edits: remove a paper's entry, move it to another section (pure).

Every other byte of the file stays as it was; the result is re-parsed and checked (the other entries are all still
there, in their sections), and an edit that cannot be made that way is refused with the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from lfmwatch.awesome.document import AwesomeList, Entry, NewEntry
from lfmwatch.awesome.edit import insert_entries
from lfmwatch.awesome.parse import is_blank, parse_list, split_lines
from lfmwatch.errors import ListError
from lfmwatch.ids import normalize_arxiv_id


@dataclass(frozen=True)
class EditResult:
    """The edited text (unchanged when refused), the entry acted on, and why it was refused."""

    text: str
    entry: Entry | None = None
    refused: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the text changed."""
        return self.refused is None and self.entry is not None


def _others(lst: AwesomeList, arxiv_id: str) -> Counter[tuple[str, str | None, str]]:
    key = normalize_arxiv_id(arxiv_id) or arxiv_id
    return Counter((e.section, e.arxiv_id, e.title) for e in lst.entries if e.arxiv_id != key)


def remove_entry(text: str, arxiv_id: str, exclude: Iterable[str] = ()) -> EditResult:
    """Delete the entry of `arxiv_id` (its lines and one blank line that separated it)."""
    exclude = list(exclude)
    lst = parse_list(text, exclude)
    entry = lst.find(arxiv_id=arxiv_id)
    if entry is None:
        return EditResult(text, None, f"{arxiv_id} is not in the list")
    lines = split_lines(text)
    start, end = entry.start, entry.end
    if end < len(lines) and is_blank(lines[end]) and (start == 0 or is_blank(lines[start - 1])):
        end += 1  # the blank line after it: the one before still separates its neighbours
    elif start > 0 and is_blank(lines[start - 1]) and (end >= len(lines) or lines[end].lstrip().startswith("#")):
        start -= 1  # last item before a heading: drop the blank line before it instead
    new = "".join(lines[:start] + lines[end:])
    after = parse_list(new, exclude)
    gone = sum(e.arxiv_id == entry.arxiv_id for e in lst.entries) - sum(e.arxiv_id == entry.arxiv_id
                                                                         for e in after.entries)
    if gone != 1 or _others(after, arxiv_id) != _others(lst, arxiv_id):
        return EditResult(text, entry, "removing the line would change how the rest of the list reads")
    return EditResult(new, entry)


def move_entry(text: str, arxiv_id: str, section: str, exclude: Iterable[str] = ()) -> EditResult:
    """Move the entry of `arxiv_id` to the end of `section` (re-rendered in the list's style, venue tag kept)."""
    exclude = list(exclude)
    lst = parse_list(text, exclude)
    try:
        target = lst.section(section)
    except ListError as exc:
        return EditResult(text, None, exc.message)
    entry = lst.find(arxiv_id=arxiv_id)
    if entry is None:
        return EditResult(text, None, f"{arxiv_id} is not in the list")
    if entry.section == target.path:
        return EditResult(text, entry, "already there")
    removed = remove_entry(text, arxiv_id, exclude)
    if removed.refused:
        return removed
    res = insert_entries(removed.text, [NewEntry(target.path, arxiv_id, entry.title, entry.venue)], exclude)
    if res.refused:
        return EditResult(text, entry, res.refused[0][1])
    return EditResult(res.text, entry)
