"""The engine on the real LFM list: today's README, all 243 earlier versions and the <details> snapshot.

Skipped cleanly when ../shared/data is absent.
"""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path

import pytest

from lfmwatch.awesome import AwesomeList, NewEntry, insert_entries, parse_list, split_lines

pytestmark = pytest.mark.shared

EXCLUDE = ["Table of Contents", "Citation", "Papers"]


@functools.cache
def _corpus(root: Path) -> tuple[tuple[str, str], ...]:
    lfm = root / "awesome-lfm"
    files = sorted((lfm / "versions").glob("*.md")) + [lfm / "README.md", lfm / "seed-snapshot.md"]
    return tuple((f.name, _read(f)) for f in files)


def _read(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


@functools.cache
def _parsed(root: Path) -> tuple[tuple[str, str, AwesomeList], ...]:
    return tuple((name, text, parse_list(text, EXCLUDE)) for name, text in _corpus(root))


@pytest.fixture
def corpus(shared_data: Path) -> tuple[tuple[str, str, AwesomeList], ...]:
    """(file name, text, parsed list) for every version, the README and the seed snapshot."""
    items = _parsed(shared_data)
    assert len(items) == 245
    return items


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_HTML6 = re.compile(r"^ {0,3}</?(details|summary|div|p|table|blockquote|br|img|center)\b", re.IGNORECASE)


def _headings_by_scanning(lines: list[str]) -> list[tuple[int, int, str]]:
    """An independent line scanner: ATX headings outside fences, comments, HTML blocks and <details>."""
    out: list[tuple[int, int, str]] = []
    fence: str | None = None
    comment = html = False
    details = 0
    for i, raw in enumerate(lines):
        ln = raw.rstrip("\r\n")
        if html:
            html = bool(ln.strip())
            continue
        if comment:
            comment = "-->" not in ln
            continue
        if fence:
            fence = None if ln.lstrip().startswith(fence) else fence
            continue
        m = re.match(r"^ {0,3}(```|~~~)", ln)
        if m:
            fence = m.group(1)
            continue
        if ln.lstrip().startswith("<!--"):
            comment = "-->" not in ln.split("<!--", 1)[1]
            continue
        details = max(0, details + len(re.findall(r"<details\b", ln, re.I)) - len(re.findall(r"</details\s*>", ln, re.I)))
        if details:
            continue
        if _HTML6.match(ln):
            html = True
            continue
        m = _ATX.match(ln)
        if m:
            out.append((i, len(m.group(1)), " ".join((m.group(2) or "").split())))
    first_title = next((h for h in out if h[1] == 1), None)
    return [h for h in out if h != first_title]


def test_every_version_parses_and_tree_matches_headings(corpus) -> None:
    total_entries = 0
    for name, text, lst in corpus:
        expected = _headings_by_scanning(split_lines(text))
        assert [(s.line, s.level, s.heading) for s in lst.sections] == expected, name
        for sec in lst.sections:
            assert sec.path.endswith(sec.heading)
            for entry in sec.entries:
                assert sec.line < entry.start < entry.end <= sec.end, (name, entry)
        spans = sorted((e.start, e.end) for e in lst.entries)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), name
        total_entries += len(lst.entries)
    assert total_entries > 10_000


def test_parse_is_read_only_and_fast_path_matches_inline_parser(corpus) -> None:
    for name, text, lst in corpus[::7]:
        slow = parse_list(text, EXCLUDE, fast=False)
        assert slow.entries == lst.entries, name


def test_inserting_into_every_section_of_every_version_keeps_other_bytes(corpus) -> None:
    for n, (name, text, lst) in enumerate(corpus):
        paths = list(dict.fromkeys(lst.paper_sections()))
        batch = [NewEntry(p, f"2601.{i:05d}", f"Inserted paper {i}: <b>bold</b> [x](http://e.com)") for i, p in enumerate(paths)]
        res = insert_entries(text, batch, EXCLUDE, parsed=lst)
        assert not res.refused, (name, res.refused[:1])
        if not batch:
            assert res.text == text
            continue
        assert _only_added(text.splitlines(), res.text.splitlines()), name
        assert text.endswith(("\n", "\r")) == res.text.endswith(("\n", "\r")), name
        assert res.text.count("\r\n") >= text.count("\r\n")
        if n % 10 == 0 or name in ("README.md", "seed-snapshot.md"):
            again = parse_list(res.text, EXCLUDE)
            for i, path in enumerate(paths):
                found = again.find(arxiv_id=f"2601.{i:05d}")
                assert found is not None and found.section == path, (name, path)
            assert len(again.entries) == len(lst.entries) + len(paths)


def _only_added(before: list[str], after: list[str]) -> bool:
    """True when `after` is `before` with lines added (before is a subsequence of after)."""
    it = iter(after)
    return all(any(line == other for other in it) for line in before) and len(after) > len(before)


def test_only_added_detects_changes() -> None:
    assert _only_added(["a", "b"], ["a", "x", "b"])
    assert not _only_added(["a", "b"], ["a", "c"])
    assert not _only_added(["a", "b"], ["b", "a", "x"])
    ops = difflib.SequenceMatcher(None, ["a", "b"], ["a", "x", "b"]).get_opcodes()
    assert {op for op, *_ in ops} == {"equal", "insert"}


def test_current_readme_sections_counts_and_duplicates(shared_data: Path) -> None:
    text = _read(shared_data / "awesome-lfm" / "README.md")
    lst = parse_list(text, EXCLUDE)
    for path in (
        "Model Tuning > Weight Enginerring > Fine Tuning",
        "Model Reuse > Model Fusion > Weight Interpolation",
        "Model Editing > Parameter Based Model Editing > Meta Learning",
    ):
        assert path in lst.paper_sections()
    assert lst.section("Table of Contents").excluded and lst.section("Citation").excluded
    assert lst.eol == "\r\n"
    # Counted independently: top-level "- " items of a section whose first line carries a link.
    lines = split_lines(text)
    for sec in lst.sections:
        if sec.excluded:
            continue
        own_end = min([s.line for s in lst.sections if s.line > sec.line] + [len(lines)])
        starts = {e.start for e in sec.entries}
        for i in range(sec.line + 1, own_end):
            if re.match(r"^ ?[-*] .*\]\(\s*https?://", lines[i]) and not _in_comment(lines, i):
                assert i in starts, (sec.path, i + 1, lines[i][:60])
    kinds = {(kind, key) for kind, key, _ in lst.duplicates}
    assert ("arxiv", "2008.03156") in kinds and ("arxiv", "2205.12410") in kinds
    assert any(kind == "title" and "lottery ticket" in key for kind, key in kinds)
    style = lst.style
    assert (style.form, style.label, style.bullet, style.blank_between) == ("tag", "arXiv", "-", True)


def _in_comment(lines: list[str], i: int) -> bool:
    before = "".join(lines[:i])
    return before.rfind("<!--") > before.rfind("-->")


def test_seed_snapshot_details_and_author_first_entries(shared_data: Path) -> None:
    text = _read(shared_data / "awesome-lfm" / "seed-snapshot.md")
    lst = parse_list(text, EXCLUDE)
    details = [e for e in lst.entries if e.kind == "details"]
    assert len(details) > 10
    assert all(split_lines(text)[e.end - 1].strip().endswith("</details>") for e in details)
    lester = lst.find(arxiv_id="2104.08691")
    assert lester is not None and lester.title.startswith("The power of scale for parameter-efficient prompt")
