"""The weekly digest's content: which papers an ISO week brought, grouped by area and section (pure builder).

`load_week` is the only part that reads the store; `assemble_digest` turns its rows into a `Digest` with no
IO at all, so content rules are tested on plain lists. Rendering lives in `digest_render`, sending in `mailer`.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lfmwatch.ids import arxiv_abs_url
from lfmwatch.records import UNFILED, split_section

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.store.db import Store

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.I)
HISTORY_WEEKS = 4
#: Rising topics need this many relevant papers this week and in the weeks before, and a term this many titles.
MIN_RISING_PAPERS = 8
MIN_RISING_TERM = 3


# --- weeks -------------------------------------------------------------------------------------------


def parse_week(text: str) -> str:
    """Normalise `YYYY-Www` (or `YYYYWww`); raises ValueError with the expected form."""
    m = _WEEK.match((text or "").strip())
    if not m:
        raise ValueError(f"{text!r} is not an ISO week; expected YYYY-Www, e.g. 2025-W30")
    year, week = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {year} has no ISO week {week}") from exc
    return f"{year}-W{week:02d}"


def week_bounds(week: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week."""
    year, num = (int(x) for x in parse_week(week).split("-W"))
    monday = date.fromisocalendar(year, num, 1)
    return monday, monday + timedelta(days=6)


def week_of(day: date) -> str:
    """The ISO week (YYYY-Www) a day belongs to."""
    year, num, _ = day.isocalendar()
    return f"{year}-W{num:02d}"


def last_complete_week(today: date | None = None) -> str:
    """The most recent ISO week that has ended before `today` (UTC by default)."""
    d = today or datetime.now(UTC).date()
    return week_of(d - timedelta(days=7))


# --- content -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestPaper:
    """One paper as the digest shows it (raw untrusted text; renderers escape it)."""

    id: str
    title: str
    authors: tuple[str, ...] = ()
    score: float | None = None
    section: str = ""
    summary: str | None = None

    @property
    def url(self) -> str | None:
        """The arXiv abstract page, only for well-formed arXiv ids (never a URL built from free text)."""
        return arxiv_abs_url(self.id)

    @property
    def author_line(self) -> str:
        """First three authors, then "et al."."""
        names = [a for a in self.authors if a and a.strip()]
        if not names:
            return ""
        return ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")


@dataclass
class DigestSection:
    """A section of the list (path below its top-level area) with its papers, best first."""

    path: str
    name: str
    papers: list[DigestPaper] = field(default_factory=list)


@dataclass
class DigestArea:
    """A top-level area of the list."""

    name: str
    sections: list[DigestSection] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Papers in this area."""
        return sum(len(s.papers) for s in self.sections)


@dataclass(frozen=True)
class GainedEntry:
    """A paper the list actually took that week (a merged proposal)."""

    id: str
    title: str
    section: str
    label: str  # accepted | moved

    @property
    def url(self) -> str | None:
        """The arXiv abstract page for well-formed ids."""
        return arxiv_abs_url(self.id)


@dataclass(frozen=True)
class RisingTerm:
    """A title term more frequent this week than in the weeks before."""

    term: str
    count: int  # relevant papers with the term in their title this week
    share: float  # ... as a share of this week's relevant papers
    before_share: float  # the same share over the previous weeks


@dataclass
class Digest:
    """Everything one week's digest says."""

    week: str
    start: date
    end: date
    areas: list[DigestArea] = field(default_factory=list)
    gained: list[GainedEntry] = field(default_factory=list)
    rising: list[RisingTerm] = field(default_factory=list)
    relevant: int = 0  # papers found relevant that week (before the max_papers cap)
    hidden: int = 0  # relevant papers not shown because of digest.max_papers
    history_papers: int = 0  # relevant papers in the previous weeks (rising topics' baseline)

    @property
    def shown(self) -> int:
        """Papers shown."""
        return sum(a.count for a in self.areas)

    @property
    def empty(self) -> bool:
        """Nothing to report: no relevant paper and nothing merged."""
        return self.shown == 0 and not self.gained

    def counts(self) -> dict[str, int]:
        """Headline numbers."""
        return {"relevant": self.relevant, "shown": self.shown, "hidden": self.hidden, "gained": len(self.gained),
                "sections": sum(len(a.sections) for a in self.areas)}


@dataclass
class WeekRows:
    """What the store holds for a week: relevant papers, the history for rising topics, merged entries."""

    week: str
    papers: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # relevant papers of the previous weeks
    gained: list[dict[str, Any]] = field(default_factory=list)
    summaries: dict[str, str] = field(default_factory=dict)


def _authors(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return (value,) if value.strip() else ()
    if isinstance(value, list | tuple):
        return tuple(str(a) for a in value if a)
    return ()


def assemble_digest(rows: WeekRows, *, max_papers: int = 60, rising_k: int = 5) -> Digest:
    """The digest of `rows.week` from plain rows (pure)."""
    start, end = week_bounds(rows.week)
    papers = [
        DigestPaper(
            id=str(r["id"]), title=str(r.get("title") or "(untitled)"), authors=_authors(r.get("authors")),
            score=float(r["score"]) if r.get("score") is not None else None, section=str(r.get("section") or ""),
            summary=rows.summaries.get(str(r["id"])),
        )
        for r in rows.papers
    ]
    papers.sort(key=lambda p: (-(p.score or 0.0), p.id))
    shown, hidden = papers[: max(0, max_papers)], max(0, len(papers) - max(0, max_papers))
    areas: dict[str, DigestArea] = {}
    sections: dict[tuple[str, str], DigestSection] = {}
    for p in shown:
        area_name, rest = split_section(p.section)
        area = areas.setdefault(area_name, DigestArea(area_name))
        sec = sections.get((area_name, rest))
        if sec is None:
            sec = sections[(area_name, rest)] = DigestSection(p.section or UNFILED, rest)
            area.sections.append(sec)
        sec.papers.append(p)
    ordered = sorted(areas.values(), key=lambda a: (a.name == UNFILED, -a.count, a.name))
    for a in ordered:
        a.sections.sort(key=lambda s: (-len(s.papers), s.name))
    gained = _gained(rows.gained)
    history_by_week: dict[str, list[str]] = {}
    for r in rows.history:
        history_by_week.setdefault(str(r.get("week") or ""), []).append(str(r.get("title") or ""))
    rising = rising_topics([p.title for p in papers], list(history_by_week.values()), HISTORY_WEEKS, k=rising_k)
    return Digest(week=rows.week, start=start, end=end, areas=ordered, gained=gained, rising=rising,
                  relevant=len(papers), hidden=hidden, history_papers=len(rows.history))


def _gained(rows: list[dict[str, Any]]) -> list[GainedEntry]:
    latest: dict[str, dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: str(r.get("created") or "")):
        latest[str(r["paper_id"])] = r
    out = [GainedEntry(id=pid, title=str(r.get("title") or pid), section=str(r.get("section") or ""),
                       label=str(r.get("label") or "accepted")) for pid, r in latest.items()]
    return sorted(out, key=lambda g: (g.section, g.title.lower()))


# --- rising topics -----------------------------------------------------------------------------------

STOPWORDS = frozenset(
    """a an the of to in on for with and or by from as at is are was were be been being this that these those it its
    we our their via towards toward using use based into than more most can how what when where why which who new
    do does not no yes beyond through over under between across without within all any both each few other some such
    only own same so too very just also vs versus your you one two three large small efficient effective simple
    study approach approaches method methods framework frameworks analysis towards
    paper work task tasks data improving improved improves enhancing enhanced enhance evaluating evaluation
    better novel generalizable general scalable robust rethinking understanding case""".split()
)
# Too generic to be a topic on their own, but fine inside a bigram ("model merging", "meta learning").
GENERIC_UNIGRAMS = frozenset("model models learning language neural network networks deep training data".split())
_TOKEN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# Titles are untrusted: markup and addresses in them are not topics.
_NOISE = re.compile(r"<[^>]*>|\S+://\S*|\bwww\.\S+|\S+@\S+|\b[\w-]+\.(?:com|org|net|io|example)\b\S*", re.I)


def title_terms(title: str) -> set[str]:
    """Unigrams and adjacent-word bigrams of a title, lower-cased, stopwords and numbers removed."""
    tokens = _TOKEN.findall(_NOISE.sub(" ", title or "").lower())
    terms: set[str] = set()
    prev: str | None = None
    for t in tokens:
        if t in STOPWORDS or len(t) < 3:
            prev = None
            continue
        if t not in GENERIC_UNIGRAMS:
            terms.add(t)
        if prev is not None:
            terms.add(f"{prev} {t}")
        prev = t
    return terms


def rising_topics(current: list[str], previous: list[list[str]], weeks: int = HISTORY_WEEKS,
                  k: int = 5) -> list[RisingTerm]:
    """Title terms whose share of relevant papers grew most against the previous weeks (add-one smoothed)."""
    n_now = len(current)
    before = [t for week in previous for t in week]
    n_before = len(before)
    if n_now < MIN_RISING_PAPERS or n_before < MIN_RISING_PAPERS:
        return []  # a share of 3 papers ("67% <- 29%") is noise, not a trend
    now = Counter(t for title in current for t in title_terms(title))
    then = Counter(t for title in before for t in title_terms(title))
    # Two mentions in a big week is noise; in a small week it is all there is.
    min_count = max(MIN_RISING_TERM, math.ceil(0.05 * n_now))
    scored = []
    for term, c in now.items():
        if c < min_count:
            continue
        # Log ratio of smoothed shares: a term unseen before is not infinitely "rising".
        growth = math.log((c + 1) / (n_now + 2)) - math.log((then[term] + 1) / (n_before + 2))
        if growth > math.log(1.5):
            scored.append((growth * math.sqrt(c), c, term))
    scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
    bigram_for: dict[str, tuple[int, str]] = {}
    for _, c, term in scored:
        if " " in term:
            for w in term.split():
                bigram_for.setdefault(w, (c, term))
    chosen: list[RisingTerm] = []
    for _, c, term in scored:
        # A unigram mostly seen inside one rising bigram is better named by the bigram ("model merging").
        if " " not in term and term in bigram_for and bigram_for[term][0] >= 0.6 * c:
            c, term = bigram_for[term]
        words = set(term.split())
        # Skip a term already covered by a chosen bigram/unigram (no "merging" next to "model merging").
        if any(words <= set(t.term.split()) or set(t.term.split()) <= words for t in chosen):
            continue
        chosen.append(RisingTerm(term, c, c / n_now, then[term] / n_before))
        if len(chosen) == k:
            break
    return chosen


# --- the store side ----------------------------------------------------------------------------------

def load_week(store: Store, week: str) -> WeekRows:
    """Read what `assemble_digest` needs for `week` from the store."""
    from lfmwatch.adapters.llm import get_summaries
    from lfmwatch.store.mail import merged_between, relevant_rows

    week = parse_week(week)
    start, end = week_bounds(week)
    history_start = start - timedelta(days=7 * HISTORY_WEEKS)
    rows = relevant_rows(store, history_start.isoformat(), end.isoformat())
    papers = [r for r in rows if r["day"] >= start.isoformat()]
    history = []
    for r in rows:
        if r["day"] < start.isoformat():
            history.append({**r, "week": week_of(date.fromisoformat(r["day"][:10]))})
    # Only what merges put in the list, in the section where the merged README has it (see store.mail).
    gained = merged_between(store, start.isoformat(), end.isoformat())
    summaries = get_summaries(store, [r["id"] for r in papers])
    return WeekRows(week=week, papers=papers, history=history, gained=gained, summaries=summaries)


def build_digest(store: Store, week: str, config: Config) -> Digest:
    """The digest of an ISO week: store rows (load_week) assembled into content (assemble_digest)."""
    return assemble_digest(load_week(store, week), max_papers=config.digest.max_papers)
