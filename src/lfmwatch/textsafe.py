"""Untrusted text (paper titles, abstracts) made safe for one line of Markdown, HTML or plain text (pure)."""

from __future__ import annotations

import html
import re
import unicodedata

ELLIPSIS = "\u2026"
# Invisible and not whitespace for CommonMark, so it splits a would-be autolink or mention without showing.
JOINER = "\u2060"

# Bidi overrides/isolates and other format characters can disguise text; controls can break lines.
_STRIP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}

# Everything CommonMark/GFM may turn into markup inside a line; escaped with a backslash.
_ALWAYS_ESCAPE = set("\\`*_[]<>|~")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
# GFM autolinks (www., scheme://, e-mail), GitHub @mentions and #123 references; fuzzy domains like a.com too.
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*):(?=/)")
_WWW = re.compile(r"(?i)\b(www)\.")
_MENTION = re.compile(r"@(?=[\w\-])")
_ISSUE = re.compile(r"#(?=\d)")
_DOT_WORD = re.compile(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z])")
_PSEUDO = re.compile(r"(?i)\b(mailto|xmpp|javascript|data|tel|sms):")
_BLOCK_START = re.compile(r"^(?:(#)|([+\-=])|(\d{1,9})([.)]))")


def _clean(text: str) -> str:
    chars = []
    for ch in str(text or ""):
        if ch.isspace():
            chars.append(" ")
        elif unicodedata.category(ch) not in _STRIP_CATEGORIES:
            chars.append(ch)
    return " ".join("".join(chars).split())


def _truncate(text: str, max_len: int | None) -> str:
    if max_len is None or len(text) <= max_len:
        return text
    if max_len <= 1:
        return ELLIPSIS[:max_len]
    cut = text[: max_len - 1]
    # Prefer a word boundary when it does not throw away most of the budget.
    space = len(cut) if text[max_len - 1] == " " else cut.rfind(" ")
    if space >= (max_len - 1) // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + ELLIPSIS


def one_line(text: str, max_len: int | None = None) -> str:
    """Collapse whitespace, drop control and bidi-format characters, and truncate with an ellipsis."""
    return _truncate(_clean(text), max_len)


def html_text(text: str) -> str:
    """One line of text, HTML-escaped (quotes included) for e-mail and HTML pages."""
    return html.escape(one_line(text), quote=True)


def _break_links(s: str) -> str:
    """A JOINER inside every would-be link: schemes, pseudo-schemes, www., bare domains and @mentions."""
    s = _SCHEME.sub(lambda m: m.group(1) + ":" + JOINER, s)
    s = _PSEUDO.sub(lambda m: m.group(1) + JOINER + ":", s)
    s = _WWW.sub(lambda m: m.group(1) + JOINER + ".", s)
    s = _MENTION.sub("@" + JOINER, s)
    return _DOT_WORD.sub("." + JOINER, s)


def inert(text: object, max_len: int | None = None) -> str:
    """One line of untrusted text that no mail client or Markdown renderer turns into a link or mention; not
    escaped (for plain text, or HTML that a template escapes)."""
    return _break_links(one_line(str(text if text is not None else ""), max_len))


def md_inline(text: str, max_len: int | None = None) -> str:
    """Untrusted text as one line of inert Markdown/GFM: shown verbatim, never a link, tag, mention or break.

    `max_len` counts the characters of the shown text (escapes excluded), so truncation never splits an escape.
    """
    plain = one_line(text, max_len)
    out = "".join("\\" + ch if ch in _ALWAYS_ESCAPE else ch for ch in plain)
    out = _ENTITY.sub(r"\\&", out)
    out = _ISSUE.sub("#" + JOINER, _break_links(out))
    m = _BLOCK_START.match(out)
    if m:
        # A line start could open a heading, list, quote or setext underline: escape that first marker.
        if m.group(1) or m.group(2):
            out = "\\" + out
        else:
            out = m.group(3) + "\\" + out[len(m.group(3)) :]
    return out


_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@?#]+@")
_SECRET_PARAM = re.compile(r"(?i)([?&;][\w.\-]*(?:key|token|secret|passw|pwd|sig|auth|code|credential)[\w.\-]*=)"
                           r"[^&\s#\"']+")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with URL credentials (user:pass@), secret-looking query values and the given secret strings masked."""
    for value in sorted((v for v in secrets if v and len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, "***")
    text = _URL_USERINFO.sub(r"\1***@", text)
    return _SECRET_PARAM.sub(r"\1***", text)
