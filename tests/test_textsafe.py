"""Untrusted titles stay inert text: markdown-it re-parses every rendering, with GitHub's autolink rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from lfmwatch.awesome import NewEntry, parse_list, render_entry
from lfmwatch.awesome.parse import clean_title
from lfmwatch.textsafe import ELLIPSIS, JOINER, html_text, md_inline, one_line

HOSTILE = [
    "A [link](http://evil.example) and ![img](x.png)",
    "*emph* _under_ **strong** ~~strike~~ `code` ``double``",
    "<script>alert(1)</script> <b>bold</b> <!-- comment --> &amp; &#x41; &copy;",
    "@octocat please look at #123 and org/repo#45",
    "bare http://example.com https://x.y/z www.example.com ftp://f.example mail me@example.com",
    "line one\nline two\r\nthree\u2028four\u0085five",
    "# heading\n- item\n> quote",
    "| table | cell |",
    "trailing backslash \\",
    "1. ordered",
    "---",
    "===",
    "+ plus",
    "[^1] footnote and [ ] task",
    "<https://autolink.example>",
    "\u202eevil bidi\u202c and zero\u200bwidth",
    "x" * 500,
]

# GitHub turns these into links or references in rendered Markdown (GFM autolink extension and mentions).
_GFM_AUTO = [
    re.compile(r"(?i)\b(?:https?|ftp)://"),
    re.compile(r"(?i)(?<![\w.])www\."),
    re.compile(r"[\w.+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9]"),
    re.compile(r"(?<![\w`])@[A-Za-z0-9]"),
    re.compile(r"(?<![\w&])#\d"),
    re.compile(r"(?i)\b(?:mailto|xmpp):"),
]


def _md() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _inline_kinds(tokens) -> set[str]:
    kinds: set[str] = set()
    for tok in tokens:
        kinds.add(tok.type)
        kinds |= _inline_kinds(tok.children or [])
    return kinds


def _shown(children) -> str:
    return "".join(c.content for c in children if c.type in ("text", "code_inline"))


def assert_inert_paragraph(markdown: str, expected: str) -> None:
    tokens = _md().parse(markdown)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], markdown
    kinds = _inline_kinds(tokens[1].children)
    assert kinds <= {"text"}, (markdown, kinds)
    shown = _shown(tokens[1].children)
    assert shown.replace(JOINER, "") == expected
    for rx in _GFM_AUTO:
        assert not rx.search(shown), (rx.pattern, shown)


@pytest.mark.parametrize("title", HOSTILE)
def test_md_inline_is_inert(title: str) -> None:
    assert_inert_paragraph(md_inline(title), one_line(title))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80))
def test_md_inline_is_inert_for_any_text(title: str) -> None:
    if not one_line(title):
        assert md_inline(title) == ""
        return
    assert_inert_paragraph(md_inline(title), one_line(title))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab []()*_`<>|@#:/.\\!-=+~&;w\n1", max_size=60))
def test_md_inline_is_inert_for_markup_soup(title: str) -> None:
    if one_line(title):
        assert_inert_paragraph(md_inline(title), one_line(title))


@pytest.mark.parametrize("title", HOSTILE)
def test_md_inline_in_a_table_cell_stays_one_cell(title: str) -> None:
    text = "| a | b |\n|---|---|\n| " + md_inline(title) + " | end |\n"
    tokens = _md().parse(text)
    cells = [tokens[i + 1] for i, t in enumerate(tokens) if t.type == "td_open"]
    assert len(cells) == 2
    assert _shown(cells[0].children).replace(JOINER, "") == one_line(title)


@pytest.mark.parametrize("title", HOSTILE)
def test_rendered_entry_is_one_item_showing_the_title(title: str) -> None:
    lst = parse_list("# T\n## A\n- [[arXiv](https://arxiv.org/abs/2001.00001)] Existing\n")
    line = render_entry(lst, NewEntry("A", "2301.00002v2", title))
    assert "\n" not in line and "\r" not in line
    tokens = _md().parse(line + "\n")
    types = [t.type for t in tokens]
    assert types.count("list_item_open") == 1 and "heading_open" not in types and "html_block" not in types
    children = tokens[3].children
    links = [c for c in children if c.type == "link_open"]
    assert [c.attrs["href"] for c in links] == ["https://arxiv.org/abs/2301.00002"]
    assert _inline_kinds(children) <= {"text", "link_open", "link_close"}
    after_tag = "".join(c.content for c in children[children.index(links[0]) + 3 :] if c.type == "text")
    assert after_tag.startswith("] ")
    assert after_tag[2:].replace(JOINER, "") == one_line(title, 300)
    again = parse_list("# T\n## A\n" + line + "\n")
    assert again.entries[0].arxiv_id == "2301.00002"
    assert again.entries[0].title == clean_title(one_line(title, 300))


def test_truncation_at_word_boundary_with_ellipsis() -> None:
    text = "Alpha beta gamma delta epsilon"
    out = one_line(text, 15)
    assert out.endswith(ELLIPSIS) and len(out) <= 15
    assert text.startswith(out[:-1])
    assert one_line("abc def ghi", 8) == "abc def" + ELLIPSIS
    assert one_line(text, 100) == text
    # Escapes are added after truncation, so none is cut in half.
    assert md_inline("[[[[[[[[[[", 5).count("\\") == 4


def test_one_line_and_html_text() -> None:
    assert one_line("  a\n\tb\r\n c\u2028d  ") == "a b c d"
    assert one_line("x\u202ey\u0000z") == "xyz"
    assert html_text('<a href="x">T&C</a>\nnext') == "&lt;a href=&quot;x&quot;&gt;T&amp;C&lt;/a&gt; next"


def test_md_inline_keeps_ordinary_titles_readable() -> None:
    title = "Llm-adapters: An adapter family for parameter-efficient fine-tuning of large language models"
    assert md_inline(title) == title


def test_markdown_and_mail_break_the_same_links() -> None:
    from lfmwatch.textsafe import JOINER, inert, md_inline

    for hostile in ("javascript:alert(1)", "see https://evil.example/x", "mailto:a@b.org", "www.evil.com",
                    "file:/etc/passwd", "ping @maintainer"):
        for out in (inert(hostile), md_inline(hostile)):
            assert JOINER in out, (hostile, out)
            assert out.replace(JOINER, "").replace("\\", "") == hostile
