"""Data types of the awesome-list engine: entries, sections, the parsed list and insertion results."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from lfmwatch.errors import ListError
from lfmwatch.ids import normalize_arxiv_id, normalize_title


@dataclass(frozen=True)
class Entry:
    """One paper of the list: a top-level list item (or `<details>` block) that links a paper."""

    section: str
    arxiv_id: str | None
    title: str
    link: str | None
    venue: str | None
    start: int
    end: int
    kind: str = "item"  # "item" for a list item, "details" for a <details><summary> block


@dataclass
class Section:
    """A heading of the list, named by its path of heading texts without the document title."""

    path: str
    heading: str
    level: int
    line: int
    entries: list[Entry]
    excluded: bool
    body_start: int = 0  # first line after the heading
    end: int = 0  # line of the next heading (or the number of lines)
    last_item_end: int | None = None  # end of the last top-level item (entry or not) and its attachments
    items: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of every top-level item


@dataclass
class AwesomeList:
    """A parsed README: its sections in document order, their entries and the duplicates found."""

    sections: list[Section]
    entries: list[Entry]
    duplicates: list[tuple[str, str, list[Entry]]]
    title: str | None = None
    eol: str = "\n"
    line_count: int = 0
    arxiv_lines: dict[str, int] = field(default_factory=dict)  # every arXiv id in the file -> first line
    style: Any = field(default=None, repr=False)
    _index: tuple[int, dict[str, Entry], dict[str, Entry]] | None = field(default=None, repr=False, compare=False)

    def section(self, path: str) -> Section:
        """The section at `path`; ListError naming close matches when there is none."""
        for sec in self.sections:
            if sec.path == path:
                return sec
        # Forgive whitespace differences only: ">" may be part of a heading's own text.
        wanted = " ".join(str(path).split())
        for sec in self.sections:
            if " ".join(sec.path.split()) == wanted:
                return sec
        paths = [s.path for s in self.sections]
        close = difflib.get_close_matches(wanted, paths, n=3, cutoff=0.5)
        if not close:
            leaf = wanted.rsplit(" > ", 1)[-1].casefold()
            close = [p for p in paths if p.rsplit(" > ", 1)[-1].casefold() == leaf][:3]
        hint = ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else (
            "run `lfmwatch sections --readme PATH` to list the section paths"
        )
        raise ListError(f"unknown section {path!r}", hint)

    def paper_sections(self) -> list[str]:
        """Paths of the sections that may hold papers (not excluded by configuration)."""
        return [s.path for s in self.sections if not s.excluded]

    def summary(self) -> list[dict[str, Any]]:
        """One JSON-ready row per section: path, heading, level, line (1-based), entries (direct), excluded."""
        return [
            {
                "path": s.path, "heading": s.heading, "level": s.level, "line": s.line + 1,
                "entries": len(s.entries), "excluded": s.excluded,
            }
            for s in self.sections
        ]

    def duplicate_summary(self) -> list[dict[str, Any]]:
        """One JSON-ready row per duplicate group: kind, key and where its entries are (1-based lines)."""
        return [
            {
                "kind": kind, "key": key,
                "entries": [{"section": e.section, "line": e.start + 1, "title": e.title} for e in group],
            }
            for kind, key, group in self.duplicates
        ]

    def find(self, arxiv_id: str | None = None, title: str | None = None) -> Entry | None:
        """The entry with this arXiv id (any version, abs/pdf link) or this normalised title, if any."""
        by_id, by_title = self._lookup()
        if arxiv_id:
            found = by_id.get(normalize_arxiv_id(arxiv_id) or arxiv_id.strip())
            if found is not None:
                return found
        if title:
            key = normalize_title(title)
            if key:
                return by_title.get(key)
        return None

    def _lookup(self) -> tuple[dict[str, Entry], dict[str, Entry]]:
        # Built once: insertion checks every new paper against every entry.
        if self._index is None or self._index[0] != len(self.entries):
            by_id: dict[str, Entry] = {}
            by_title: dict[str, Entry] = {}
            for entry in self.entries:
                if entry.arxiv_id:
                    by_id.setdefault(entry.arxiv_id, entry)
                key = normalize_title(entry.title)
                if key:
                    by_title.setdefault(key, entry)
            self._index = (len(self.entries), by_id, by_title)
        return self._index[1], self._index[2]


@dataclass(frozen=True)
class NewEntry:
    """A paper to add to the list."""

    section: str
    arxiv_id: str
    title: str
    venue: str | None = None  # "ICLR 2024" when the paper was accepted there (its tag label instead of arXiv)


@dataclass
class InsertResult:
    """The edited text, the entries inserted and those refused with the reason."""

    text: str
    inserted: list[NewEntry]
    refused: list[tuple[NewEntry, str]]
