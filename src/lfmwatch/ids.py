"""The one arXiv-id parser, and title normalisation (pure, stdlib only).

Canonical form of an id: new-style `YYMM.NNNNN` (4 or 5 digits), old-style `archive/YYMMNNN` with the archive in
lower case, never a version. An old-style id's subject class (`math.AP/0601001`) is dropped, as arXiv itself does in
its preferred external form (`arXiv:math/0601001`) and in the API's entry ids, so every spelling of a paper is one key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# New-style ids: YYMM.NNNN (2007-2014) or YYMM.NNNNN (2015-); old-style: archive[.SUBJ]/YYMMNNN.
_NEW_ID = r"(?P<new>\d{2}(?:0[1-9]|1[0-2])\.\d{4,5})"
_OLD_ID = r"(?P<old>(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z]{2})?/(?P<num>\d{2}(?:0[1-9]|1[0-2])\d{3}))"
_ID = rf"(?:{_NEW_ID}|{_OLD_ID})(?!\d)"
_VERSION = r"(?:v(?P<version>\d+))?"

_URL_RE = re.compile(
    rf"(?:https?://)?(?:www\.|export\.|browse\.)?arxiv\.org/(?:abs|pdf|html|ps|format)/{_ID}{_VERSION}"
    r"(?:\.pdf)?/?(?:[?#]\S*)?",
    re.IGNORECASE,
)
_BARE_RE = re.compile(rf"(?:arxiv:\s*)?{_ID}{_VERSION}", re.IGNORECASE)

# Scanning running text: links anywhere, "arXiv:ID", and CoRR-style "abs/ID" citations.
_SCAN_RE = re.compile(
    rf"(?:arxiv\.org/(?:abs|pdf|html|ps|format)/|\barxiv:\s*|\babs/){_ID}{_VERSION}",
    re.IGNORECASE,
)


def _id_from_match(m: re.Match[str]) -> str:
    if m.group("new"):
        return m.group("new")
    return f"{m.group('archive').lower()}/{m.group('num')}"


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """(canonical id, version or None) of a bare id, `arXiv:ID` or an arxiv.org abs/pdf/html URL; None otherwise."""
    if not isinstance(text, str):
        return None
    s = text.strip().strip("<>").strip()
    for rx in (_URL_RE, _BARE_RE):
        m = rx.fullmatch(s)
        if m:
            version = m.group("version")
            return _id_from_match(m), int(version) if version else None
    return None


def normalize_arxiv_id(text: str) -> str | None:
    """Return the version-less canonical arXiv id of a bare id or an abs/pdf/html URL, or None when it is not one."""
    parsed = parse_arxiv_id(text)
    return parsed[0] if parsed else None


def paper_key(text: str) -> str:
    """The key a paper is stored and compared under: its canonical arXiv id, else the trimmed text itself."""
    return normalize_arxiv_id(text) or text.strip()


_EXACT_RE = re.compile(rf"{_ID}{_VERSION}", re.IGNORECASE)


def exact_arxiv_id(text: str) -> str | None:
    """The canonical id of a text that is exactly an arXiv id (no prefix, URL or spaces), else None."""
    m = _EXACT_RE.fullmatch(text) if isinstance(text, str) else None
    return _id_from_match(m) if m else None


def arxiv_abs_url(text: str) -> str | None:
    """The abstract page of a text that is exactly an arXiv id, built from the parsed id (never from free text)."""
    arxiv_id = exact_arxiv_id(text)
    return f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None


_NEW_ID_RE = re.compile(rf"{_NEW_ID}(?:v\d+)?")


def new_id_month(arxiv_id: str) -> tuple[int, int] | None:
    """(year, month) a new-style arXiv id was issued in (2405.01234 -> (2024, 5)); None for any other string."""
    m = _NEW_ID_RE.fullmatch(arxiv_id)
    return (2000 + int(arxiv_id[:2]), int(arxiv_id[2:4])) if m else None


def find_arxiv_ids(text: str) -> Iterator[tuple[str, int]]:
    """Yield (id, character offset) for every arXiv link or `arXiv:ID` citation in running text."""
    for m in _SCAN_RE.finditer(text):
        yield _id_from_match(m), m.start()


_LATEX_FORMAT = re.compile(
    r"\\(?:text[a-z]*|math[a-z]*|emph|mbox|bf|it|rm|tt|sf|sc|bm|boldsymbol|operatorname)\b\s*"
)
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_title(title: str) -> str:
    """Fold case, accents, punctuation, whitespace and Markdown/LaTeX/HTML markup so equal titles compare equal."""
    s = unicodedata.normalize("NFKC", title or "")
    s = _MD_LINK.sub(r"\1", s)
    s = _HTML_TAG.sub(" ", s)
    s = _LATEX_FORMAT.sub("", s)
    if not s.isascii():
        s = unicodedata.normalize("NFKD", s)
        s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = s.casefold()
    return " ".join(_NON_WORD.sub(" ", s).split())
