"""Parse an awesome-list README into sections and paper entries, using markdown-it token line maps (pure)."""

from __future__ import annotations

import functools
import html
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from lfmwatch.awesome.document import AwesomeList, Entry, Section
from lfmwatch.awesome.style import infer_style
from lfmwatch.ids import find_arxiv_ids, normalize_arxiv_id, normalize_title

_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split exactly where markdown-it splits them (LF, CRLF or lone CR)."""
    return _LINE_RE.findall(text)


def dominant_eol(lines: list[str]) -> str:
    """The most common line ending of the file (LF when it has none)."""
    counts = Counter(
        "\r\n" if ln.endswith("\r\n") else "\r" if ln.endswith("\r") else "\n"
        for ln in lines
        if ln.endswith(("\n", "\r"))
    )
    return counts.most_common(1)[0][0] if counts else "\n"


def is_blank(line: str) -> bool:
    """True for a line holding only whitespace."""
    return not line.strip(" \t\r\n")


@functools.lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # GitHub's dialect: CommonMark (HTML allowed) plus GFM tables and strikethrough. Inline parsing is done
    # on demand for list-item heads only (it is most of markdown-it's time and nothing else needs it).
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).disable("inline")


# The common entry shapes, `[[Tag](URL)] Title` and `[Title](URL)`, without any character that could make
# inline parsing differ from a plain reading; everything else goes through markdown-it's inline parser.
_PLAIN = r"(?:[^\[\]()<>*_`&!\\~\n]|&(?![#A-Za-z0-9]))"  # "&" only when it cannot start an entity
_URL = r"(?P<url>https?://[^\s()<>\\&]+)"
# After the first character, "!" and parentheses are inert too.
_POST = r"(?:(?:[^\[\]()<>*_`&\\~\n]|&(?![#A-Za-z0-9]))(?:[^\[\]<>*_`&\\~\n]|&(?![#A-Za-z0-9]))*)?"
_FAST_TAG = re.compile(rf"(?P<pre>{_PLAIN}*)\[\[(?P<label>{_PLAIN}+)\]\(\s*{_URL}\s*\)\](?P<post>{_POST})")
_FAST_LINK = re.compile(rf"(?P<pre>{_PLAIN}*)\[(?P<label>{_PLAIN}+)\]\(\s*{_URL}\s*\)(?P<post>{_POST})")


def head_children(content: str, env: dict[str, object], fast: bool = True) -> list[Token]:
    """Inline tokens of an item's first paragraph (a cheap exact reading for the common entry shapes)."""
    md = _markdown()
    if fast:
        m = _FAST_TAG.fullmatch(content)
        if m:
            return _fast_tokens(md, m, bracketed=True)
        m = _FAST_LINK.fullmatch(content)
        if m:
            return _fast_tokens(md, m, bracketed=False)
    children: list[Token] = []
    md.inline.parse(content, md, env, children)
    return children


def _fast_tokens(md: MarkdownIt, m: re.Match[str], bracketed: bool) -> list[Token]:
    out: list[Token] = []
    pre, post = m.group("pre") + ("[" if bracketed else ""), ("]" if bracketed else "") + m.group("post")
    if pre:
        out.append(Token("text", "", 0, content=pre))
    out.append(Token("link_open", "a", 1, attrs={"href": md.normalizeLink(m.group("url"))}))
    out.append(Token("text", "", 0, content=m.group("label")))
    out.append(Token("link_close", "a", -1))
    if post:
        out.append(Token("text", "", 0, content=post))
    return out


@dataclass
class _Block:
    kind: str  # heading | item | html | other
    start: int
    end: int
    level: int = 0
    text: str = ""
    inline: Token | None = None


def _blocks(tokens: list[Token]) -> Iterator[_Block]:
    """Top-level blocks in document order; lists are split into their top-level items."""
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.level != 0 or tok.map is None:
            i += 1
            continue
        start, end = tok.map
        if tok.type == "heading_open":
            yield _Block("heading", start, end, level=int(tok.tag[1:]), text=tokens[i + 1].content)
            i += 3
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            i += 1
            while i < n and not (tokens[i].level == 0 and tokens[i].type.endswith("_list_close")):
                item = tokens[i]
                if item.type == "list_item_open" and item.level == 1 and item.map is not None:
                    head = tokens[i + 1] if i + 1 < n else None
                    inline = tokens[i + 2] if head is not None and head.type == "paragraph_open" else None
                    yield _Block("item", item.map[0], item.map[1], inline=inline)
                i += 1
            i += 1
        elif tok.type == "html_block":
            yield _Block("html", start, end, text=tok.content)
            i += 1
        else:
            yield _Block("other", start, end)
            i += 1


_DETAILS_OPEN = re.compile(r"<details\b", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
_SUMMARY = re.compile(r"<summary\b[^>]*>(.*?)</summary\s*>", re.IGNORECASE | re.DOTALL)
_A_START = re.compile(r"<a\b([^<>]{0,2000})>", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_A_OPEN = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_TAG_LINK = re.compile(r"\[\s*\x00(\d+)\x01\s*\]")
_SENTINEL = re.compile(r"\x00(\d+)\x01")
_SHORTCODE_EDGE = re.compile(r"^(?:\s*:[a-z0-9_+\-]+:)+|(?::[a-z0-9_+\-]+:\s*)+$")
# Word separators are outside the word class, so a hostile title cannot make this backtrack exponentially.
_VENUE = re.compile(
    r"[\[(]\s*([A-Z][A-Za-z&]*(?:[ \-][A-Za-z&]+){0,4}\s*(?:['’]\s*\d{2}|(?:19|20)\d{2}))\s*[\])]"
)
_AUTHORS_FIRST = re.compile(r"^(?:[A-Z][\w\-]{0,20}\.\s*){1,6}(?:[\w\-']+\s+){1,3}et\s+al\.\s+")
_CITATION_TAIL = re.compile(r"\.?\s+(?:arXiv\s+preprint\b|In\s+Proceedings\b|CoRR\b).*$", re.IGNORECASE)
_GENERIC_LABELS = {
    "arxiv", "paper", "pdf", "link", "code", "github", "project", "page", "project page", "website", "blog",
    "openreview", "html", "abs", "url", "preprint", "home", "homepage", "doi", "biorxiv", "medrxiv", "ssrn",
    "researchgate", "huggingface", "hf", "dataset", "data", "video", "slides", "poster", "demo", "here",
}


@dataclass
class _Head:
    flat: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, label)


def _flatten(children: list[Token]) -> _Head:
    """Plain text of an item's first paragraph with each link replaced by a sentinel \\0N\\1."""
    head = _Head()
    parts: list[str] = []
    label: list[str] | None = None
    href = ""
    for child in children:
        t = child.type
        if t in ("link_open",) or (t == "html_inline" and _A_OPEN.match(child.content)):
            if t == "link_open":
                href = str(child.attrs.get("href", ""))
            else:
                m = _A_OPEN.match(child.content)
                href = html.unescape(next(g for g in m.groups() if g is not None)) if m else ""
            label = []
        elif t == "link_close" or (t == "html_inline" and re.match(r"</a\s*>", child.content, re.I)):
            if label is not None:
                parts.append(f"\x00{len(head.links)}\x01")
                head.links.append((href.strip(), " ".join("".join(label).split())))
            label = None
        elif t in ("text", "text_special", "code_inline"):
            (label if label is not None else parts).append(child.content)
        elif t in ("softbreak", "hardbreak") or (t == "html_inline" and re.match(r"<br\b", child.content, re.I)):
            (label if label is not None else parts).append(" ")
    head.flat = "".join(parts)
    return head


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def _clean_title(text: str) -> tuple[str, str | None]:
    """Strip markers, venue tags and author-first citation parts from a title; return (title, venue)."""
    # Zero-width characters are invisible formatting (textsafe uses a word joiner to break autolinks).
    s = " ".join(text.translate(_INVISIBLE).split())
    venue = None
    for _ in range(2):
        s = _SHORTCODE_EDGE.sub("", s).strip(" \t-–—:|,;")
        s = s.lstrip("✅❌⭐🔥✔✘☑ ").strip()
        m = _VENUE.match(s) or _VENUE.search(s)
        if m and (m.start() == 0 or m.end() == len(s)):
            venue = venue or m.group(1)
            s = (s[: m.start()] + " " + s[m.end() :]).strip()
    s = _AUTHORS_FIRST.sub("", s)
    s = _CITATION_TAIL.sub("", s)
    return " ".join(s.split()).strip(" \t-–—:|,;"), venue


def clean_title(text: str) -> str:
    """The title an entry's text reads as: edge markers, venue tags and citation parts removed."""
    return _clean_title(text)[0]


def _label_venue(label: str) -> str | None:
    clean = " ".join(label.split()).strip()
    if not clean or clean.casefold() in _GENERIC_LABELS or len(clean) > 40 or normalize_arxiv_id(clean):
        return None
    return clean


def _pick_id(hrefs: Iterable[str], raw: str) -> str | None:
    for href in hrefs:
        found = normalize_arxiv_id(href)
        if found:
            return found
    for found, _ in find_arxiv_ids(raw):
        return found
    return None


def _item_entry(
    inline: Token | None, env: dict[str, object], fast: bool = True
) -> tuple[str | None, str, str | None, str | None] | None:
    """(arxiv_id, title, link, venue) when a list item's first paragraph looks like a paper, else None."""
    if inline is None:
        return None
    content = inline.content
    if "[" not in content and "<" not in content and not list(find_arxiv_ids(content)):
        return None  # without "[" or "<" CommonMark has no link, and there is no arXiv id either
    head = _flatten(head_children(inline.content, env, fast))
    links = [(h, lab) for h, lab in head.links if h and not h.startswith("#")]
    if not links and not list(find_arxiv_ids(inline.content)):
        return None
    labels = {i: lab for i, (_, lab) in enumerate(head.links)}

    def unflat(s: str) -> str:
        return _SENTINEL.sub(lambda m: labels.get(int(m.group(1)), ""), s)

    venue: str | None = None
    main: tuple[str, str] | None = None
    tags = [m for m in _TAG_LINK.finditer(head.flat) if head.links[int(m.group(1))][0][:1] not in ("", "#")]
    if tags:
        first = tags[0]
        main = head.links[int(first.group(1))]
        venue = _label_venue(main[1])
        title_src = _TAG_LINK.sub(" ", head.flat[first.end() :])
        pre_venue = _VENUE.search(unflat(head.flat[: first.start()]))
        if pre_venue and venue is None:
            venue = pre_venue.group(1)
        title, tail_venue = _clean_title(unflat(title_src))
    else:
        title = ""
        for idx, (href, lab) in enumerate(head.links):
            if href and not href.startswith("#") and (len(lab) >= 12 or len(lab.split()) >= 2):
                if lab.casefold() not in _GENERIC_LABELS and not re.match(r"(?i)(?:https?://|www\.)", lab):
                    main = (href, lab)
                    rest = unflat(head.flat.replace(f"\x00{idx}\x01", " "))
                    title, _ = _clean_title(lab)
                    m = _VENUE.search(rest)
                    venue = m.group(1) if m else None
                    break
        if main is None:
            title, venue = _clean_title(unflat(head.flat))
            title = re.sub(r"(?i)\barxiv:\s*\S+|\bhttps?://\S+|<[^<>]*>", "", title)
            title = re.sub(r"[\s.,;]*\(?(?:19|20)\d{2}\)?[\s.,;]*$", "", " ".join(title.split())).strip(" ,;.")
            main = links[0] if links else None
        tail_venue = None
    hrefs = ([main[0]] if main else []) + [h for h, _ in links]
    arxiv_id = _pick_id(hrefs, inline.content)
    if not arxiv_id and not (main and title):
        return None
    return arxiv_id, title, main[0] if main else None, venue or tail_venue


def _details_entry(content: str) -> tuple[str | None, str, str | None, str | None] | None:
    summary = _SUMMARY.search(content)
    if not summary:
        return None
    inner = summary.group(1)
    a = _A_START.search(inner)
    href_m = _HREF.search(a.group(1)) if a else None
    if not a or not href_m:
        return None
    href = html.unescape(next(g for g in href_m.groups() if g is not None)).strip()
    close = inner.lower().find("</a", a.end())
    label = inner[a.end() : close if close >= 0 else len(inner)]
    title, venue = _clean_title(html.unescape(_TAG.sub(" ", label)))
    arxiv_id = _pick_id([href], summary.group(1))
    if not arxiv_id and not title:
        return None
    return arxiv_id, title, href or None, venue


def _trim(lines: list[str], start: int, end: int) -> int:
    """End of a span without its trailing blank lines (never before start + 1)."""
    end = min(end, len(lines))
    while end > start + 1 and is_blank(lines[end - 1]):
        end -= 1
    return end


@dataclass
class _Open:
    start: int
    end: int
    found: tuple[str | None, str, str | None, str | None] | None
    kind: str


def excluded_heading(exclude: Iterable[str]) -> Callable[[str], bool]:
    """A test for headings that never hold papers: an `exclude` name matches the heading text exactly (case and
    spacing aside), or as a shell pattern when it has `*`/`?` (``"*Exciting News*"``); empty headings too."""
    from fnmatch import fnmatchcase

    names = {" ".join(str(e).split()).casefold() for e in exclude}
    patterns = [n for n in names if "*" in n or "?" in n]

    def test(name: str) -> bool:
        key = " ".join(name.split()).casefold()
        return not key or key in names or any(fnmatchcase(key, p) for p in patterns)

    return test


def parse_list(text: str, exclude: Iterable[str] = (), *, fast: bool = True) -> AwesomeList:
    """Parse README text into its section tree, entries and duplicates; `exclude` names non-paper headings.

    `fast=False` sends every entry through markdown-it's inline parser (the reference the fast path is tested
    against).
    """
    excluded = excluded_heading(exclude)
    lines = split_lines(text)
    env: dict[str, object] = {}
    # GitHub ignores a leading byte-order mark; dropping it keeps every line number the same.
    tokens = _markdown().parse(text[1:] if text.startswith("\ufeff") else text, env)
    sections: list[Section] = []
    entries: list[Entry] = []
    stack: list[tuple[int, str]] = []
    title: str | None = None
    current: Section | None = None
    open_item: _Open | None = None
    depth = 0

    def close() -> None:
        nonlocal open_item
        if open_item is None:
            return
        end = _trim(lines, open_item.start, open_item.end)
        if current is not None:
            current.last_item_end = end
            current.items.append((open_item.start, end))
            if open_item.found is not None:
                arxiv_id, etitle, link, venue = open_item.found
                entry = Entry(current.path, arxiv_id, etitle, link, venue, open_item.start, end, open_item.kind)
                current.entries.append(entry)
                entries.append(entry)
        open_item = None

    for block in _blocks(tokens):
        if depth > 0:
            # Inside <details>: headings and list items are notes of the block, never sections or entries.
            if open_item is not None:
                open_item.end = max(open_item.end, block.end)
            if block.kind == "html":
                depth = max(0, depth + len(_DETAILS_OPEN.findall(block.text)) - len(_DETAILS_CLOSE.findall(block.text)))
            continue
        if block.kind == "heading":
            close()
            name = " ".join(block.text.split())
            if title is None and block.level == 1:
                title = name
                stack = []
                current = None
                continue
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, name))
            current = Section(
                path=" > ".join(n for _, n in stack), heading=name, level=block.level, line=block.start,
                entries=[], excluded=excluded(name), body_start=block.end,
            )
            sections.append(current)
        elif block.kind == "item":
            close()
            open_item = _Open(block.start, block.end, _item_entry(block.inline, env, fast), "item")
        elif block.kind == "html" and _DETAILS_OPEN.match(block.text.lstrip()):
            close()
            open_item = _Open(block.start, block.end, _details_entry(block.text), "details")
            depth = max(0, len(_DETAILS_OPEN.findall(block.text)) - len(_DETAILS_CLOSE.findall(block.text)))
        elif open_item is not None:
            open_item.end = max(open_item.end, block.end)
    close()
    for i, sec in enumerate(sections):
        sec.end = sections[i + 1].line if i + 1 < len(sections) else len(lines)
    lst = AwesomeList(
        sections=sections, entries=entries, duplicates=_duplicates(entries), title=title,
        eol=dominant_eol(lines), line_count=len(lines), arxiv_lines=_arxiv_lines(lines),
    )
    lst.style = infer_style(lst, lines)
    return lst


def _arxiv_lines(lines: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for n, line in enumerate(lines):
        if "rxiv" in line or "abs/" in line or "RXIV" in line:
            for arxiv_id, _ in find_arxiv_ids(line):
                found.setdefault(arxiv_id, n)
    return found


def _duplicates(entries: list[Entry]) -> list[tuple[str, str, list[Entry]]]:
    by_id: dict[str, list[Entry]] = {}
    by_title: dict[str, list[Entry]] = {}
    for e in entries:
        if e.arxiv_id:
            by_id.setdefault(e.arxiv_id, []).append(e)
        key = normalize_title(e.title)
        if key:
            by_title.setdefault(key, []).append(e)
    out: list[tuple[str, str, list[Entry]]] = [("arxiv", k, v) for k, v in by_id.items() if len(v) > 1]
    for key, group in by_title.items():
        ids = {e.arxiv_id for e in group}
        # Same title under one arXiv id is already reported above; report the rest (venue links, mixed ids).
        if len(group) > 1 and not (len(ids) == 1 and None not in ids):
            out.append(("title", key, group))
    return out
