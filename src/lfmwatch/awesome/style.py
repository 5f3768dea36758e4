"""The list's dominant entry style, inferred from its own entries, and rendering new entries in it (pure)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from lfmwatch.awesome.document import AwesomeList, NewEntry, Section
from lfmwatch.errors import ListError
from lfmwatch.ids import normalize_arxiv_id
from lfmwatch.textsafe import md_inline

TITLE_MAX = 300

_ITEM_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<bullet>[-*+]|\d{1,9}[.)])(?P<space>[ \t]+)(?P<rest>.*)$")
_MARKS = r"(?:(?::[a-z0-9_+\-]+:|[⭐✅❌🔥])\s*)*"
_TAG_FORM = re.compile(rf"^{_MARKS}\[\[(?P<label>[^\[\]]+)\]\((?P<url>[^()\s]*)\)\](?P<sep>[ \t]*)\S")
_LINK_FORM = re.compile(rf"^{_MARKS}\[(?P<title>[^\[\]]+)\]\((?P<url>[^()\s]*)\)")


@dataclass(frozen=True)
class Style:
    """How the list writes an entry: bullet, indentation, link form and spacing habits."""

    indent: str = ""
    bullet: str = "-"
    space: str = " "
    form: str = "tag"  # "tag": [[arXiv](URL)] Title; "link": [Title](URL)
    label: str = "arXiv"
    sep: str = " "
    blank_between: bool = True
    blank_after_heading: bool = True


def _majority(counter: Counter[Any], default: Any) -> Any:
    return counter.most_common(1)[0][0] if counter else default


def infer_style(lst: AwesomeList, lines: list[str]) -> Style:
    """Infer the dominant entry style from the list's own list-item entries (LFM defaults when it has none)."""
    indent: Counter[object] = Counter()
    bullet: Counter[object] = Counter()
    space: Counter[object] = Counter()
    form: Counter[object] = Counter()
    label: Counter[object] = Counter()
    sep: Counter[object] = Counter()
    for entry in lst.entries:
        if entry.kind != "item" or entry.start >= len(lines):
            continue
        m = _ITEM_LINE.match(lines[entry.start].rstrip("\r\n"))
        if not m:
            continue
        indent[m.group("indent")] += 1
        bullet["-" if m.group("bullet")[0].isdigit() else m.group("bullet")] += 1
        space[m.group("space")] += 1
        rest = m.group("rest").rstrip()
        tag = _TAG_FORM.match(rest)
        if tag and normalize_arxiv_id(tag.group("url")):
            form["tag"] += 1
            label[tag.group("label").strip()] += 1
            sep[tag.group("sep")] += 1
            continue
        link = _LINK_FORM.match(rest)
        if link and normalize_arxiv_id(link.group("url")):
            form["link"] += 1
    gaps = [gap for sec in lst.sections for gap in _gaps(sec)]
    after_heading = Counter(
        sec.items[0][0] > sec.body_start for sec in lst.sections
        if sec.items and all(not ln.strip() for ln in lines[sec.body_start : sec.items[0][0]])
    )
    return Style(
        indent=str(_majority(indent, "")),
        bullet=str(_majority(bullet, "-")),
        space=str(_majority(space, " ")) if _majority(space, " ") in (" ", "  ", "   ") else " ",
        form=str(_majority(form, "tag")),
        label=str(_majority(label, "arXiv")),
        sep=str(_majority(sep, " ")),
        blank_between=(sum(gaps) * 2 >= len(gaps)) if gaps else True,
        blank_after_heading=bool(_majority(after_heading, True)),
    )


def _gaps(sec: Section) -> list[bool]:
    return [b[0] > a[1] for a, b in zip(sec.items, sec.items[1:], strict=False)]


def section_blank_between(style: Style, sec: Section) -> bool:
    """Whether entries of this section are separated by blank lines (the file's habit when it cannot tell)."""
    gaps = _gaps(sec)
    if not gaps:
        return style.blank_between
    return sum(gaps) * 2 >= len(gaps)


def style_of(lst: AwesomeList) -> Style:
    """The list's style, inferred once at parse time (LFM defaults for a list built by hand)."""
    return lst.style if isinstance(lst.style, Style) else Style()


def render_entry(lst: AwesomeList, entry: NewEntry) -> str:
    """One list item for `entry` in the list's dominant style, title shown as inert text; no newline."""
    arxiv_id = normalize_arxiv_id(entry.arxiv_id)
    if not arxiv_id:
        raise ListError(f"invalid arXiv id {entry.arxiv_id!r}", "use an id like 2310.08184 or cs/0601001")
    style = style_of(lst)
    url = f"https://arxiv.org/abs/{arxiv_id}"
    title = md_inline(entry.title, TITLE_MAX)
    if style.form == "link":
        body = f"[{title}]({url})"
    else:
        label = md_inline(entry.venue or "", 40) or md_inline(style.label) or "arXiv"
        body = f"[[{label}]({url})]{style.sep}{title}".rstrip()
    return f"{style.indent}{style.bullet}{style.space}{body}"
