"""arXiv identifiers and title normalisation for the awesome-list engine (pure, stdlib only)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# New-style ids: YYMM.NNNN (2007-2014) or YYMM.NNNNN (2015-); old-style: archive[.SUBJ]/YYMMNNN.
_NEW_ID = r"(?P<new>\d{2}(?:0[1-9]|1[0-2])\.\d{4,5})"
_OLD_ID = r"(?P<old>(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z]{2})?/(?P<num>\d{2}(?:0[1-9]|1[0-2])\d{3}))"
_ID = rf"(?:{_NEW_ID}|{_OLD_ID})(?!\d)"
_VERSION = r"(?:v\d+)?"

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


def normalize_arxiv_id(text: str) -> str | None:
    """Return the version-less arXiv id of a bare id or an abs/pdf/html URL, or None when it is not one."""
    if not isinstance(text, str):
        return None
    s = text.strip().strip("<>").strip()
    for rx in (_URL_RE, _BARE_RE):
        m = rx.fullmatch(s)
        if m:
            return _id_from_match(m)
    return None


_NEW_ID_RE = re.compile(rf"{_NEW_ID}{_VERSION}")


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
