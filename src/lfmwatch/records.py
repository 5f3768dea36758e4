"""The records that flow through a run (typed), and the section-path helpers every part shares (pure).

A *section* is a heading path of the list without the document title, joined with ` > `
(`Model Reuse > Model Fusion > Weight Interpolation`); its first part is the *area*.

The records are `TypedDict`s over the plain dicts the store hands out, so they cost nothing at run time:
- `Paper`: a row of the papers table (`authors`/`categories` as lists, dates as ISO strings);
- `Prediction`: what the model says about one paper (`LfmModel.predict`, `classify --output`);
- `Candidate`: a paper merged with its prediction, as selection and the pull request see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Any, TypedDict

SEP = " > "
UNFILED = "Unfiled"


class Paper(TypedDict, total=False):
    """A paper (the papers table's columns); `id` is the canonical arXiv id (lfmwatch.ids)."""

    id: str
    version: int | None
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    primary_category: str | None
    comment: str | None
    journal_ref: str | None
    doi: str | None
    published: str | None
    updated: str | None
    listed: str | None
    first_seen: str
    source: str


class Prediction(TypedDict):
    """The model's decision on one paper."""

    relevant: bool
    score: float
    section: str | None
    section_score: float
    sections: list[list[Any]]  # up to 3 [path, probability] pairs, best first
    why: list[str]


class Candidate(Paper, total=False):
    """A paper with its prediction (store row: `sections`/`why` decoded), ready for selection."""

    model_version: str
    relevant: bool | int
    score: float
    section: str | None
    section_score: float
    sections: list[list[Any]]
    why: list[str]
    summary: str | None


def section_parts(path: str | None) -> list[str]:
    """The headings of a section path, trimmed, empty parts dropped."""
    return [p.strip() for p in (path or "").split(SEP) if p.strip()]


def area_of(section: str | None) -> str:
    """Top-level area of a section path ('' for none)."""
    return (section or "").split(SEP)[0]


def parent_section(path: str) -> str | None:
    """The section one level up, or None for a top-level area."""
    parts = path.split(SEP)
    return SEP.join(parts[:-1]) if len(parts) > 1 else None


def area_among(leaf: str, areas: list[str]) -> str:
    """The area of `leaf` among the known `areas` (ValueError when it is under none of them)."""
    for area in areas:
        if leaf == area or leaf.startswith(area + SEP):
            return area
    raise ValueError(f"leaf section {leaf!r} is under no known area")


def split_section(path: str | None, unfiled: str = UNFILED) -> tuple[str, str]:
    """(top-level area, the rest of the path) of a section path; `unfiled` twice when there is none."""
    parts = section_parts(path)
    if not parts:
        return unfiled, unfiled
    return parts[0], (SEP.join(parts[1:]) or parts[0])


def section_path(section: Any) -> str | None:
    """The path of a section given as a path string or a Section object (anything with `.path`)."""
    if section is None or isinstance(section, str):
        return section
    return getattr(section, "path", None)


def resolve_section(name: str, sections: list[str]) -> str | None:
    """A section path from a user's text: an exact path (any spacing around '>', any case) or a unique leaf."""
    name = SEP.join(part.strip() for part in name.strip().strip("`'\"").split(">"))
    if name in sections:
        return name
    lowered = {s.lower(): s for s in sections}
    if name.lower() in lowered:
        return lowered[name.lower()]
    tails = [s for s in sections if s.lower().endswith(SEP + name.lower()) or s.lower() == name.lower()]
    return tails[0] if len(tails) == 1 else None


_LOGICAL_DAY: ContextVar[date | None] = ContextVar("lfmwatch_logical_day", default=None)


def utcnow() -> str:
    """Current UTC time as an ISO string (seconds precision): every record's timestamp format.

    Inside `logical_day(D)` (a replay of a past day: `lfmwatch run --until D`) it is D at the current time of day,
    so what the replayed run records (proposals, feedback, the daily cap) belongs to D.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    day = _LOGICAL_DAY.get()
    if day is not None and day < now.date():
        now = datetime.combine(day, now.time(), UTC)
    return now.isoformat()


@contextmanager
def logical_day(day: date | None) -> Iterator[None]:
    """Record timestamps as of `day` (a past day being replayed); None: the wall clock."""
    token = _LOGICAL_DAY.set(day)
    try:
        yield
    finally:
        _LOGICAL_DAY.reset(token)
