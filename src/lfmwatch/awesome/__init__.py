"""The awesome-list engine (pure: text in, text out): parse a README's sections and entries, insert new ones.

This module is the public import point; the work lives in parse, document, style and edit (ids: lfmwatch.ids).
"""

from __future__ import annotations

from lfmwatch.awesome.document import AwesomeList, Entry, InsertResult, NewEntry, Section
from lfmwatch.awesome.edit import insert_entries
from lfmwatch.awesome.parse import parse_list, split_lines
from lfmwatch.awesome.style import Style, render_entry
from lfmwatch.ids import find_arxiv_ids, normalize_arxiv_id, normalize_title

__all__ = [
    "AwesomeList",
    "Entry",
    "InsertResult",
    "NewEntry",
    "Section",
    "Style",
    "find_arxiv_ids",
    "insert_entries",
    "normalize_arxiv_id",
    "normalize_title",
    "parse_list",
    "render_entry",
    "split_lines",
]
