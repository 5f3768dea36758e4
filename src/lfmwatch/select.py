"""Which predicted papers go into the next pull request (pure: no store, no network, deterministic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lfmwatch.awesome import AwesomeList
from lfmwatch.ids import normalize_title, paper_key
from lfmwatch.records import area_of, section_path

#: Every reason a candidate can be skipped; `select_papers` always reports all of them (0 when unused).
SKIP_REASONS = ("in_list", "blocked", "below_floor", "no_section", "duplicate_title", "over_section_cap", "over_cap")


def paper_id(candidate: Mapping[str, Any]) -> str:
    """The normalised arXiv id of a candidate (its raw id when it does not parse as one)."""
    raw = str(candidate.get("id") or candidate.get("paper_id") or "")
    return paper_key(raw)


def select_papers(
    candidates: Sequence[Mapping[str, Any]],
    lst: AwesomeList,
    blocked_ids: set[str],
    limit: int,
    min_score: float = 0.0,
    per_section: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Pick up to `limit` candidates, best first; return them and the count of skips per reason.

    Candidates are paper dicts merged with prediction fields (`score`, `section`, `why`, ...). Order is
    score descending, then id, so the result never depends on the input order. `per_section` > 0 caps the papers
    of one top-level section (the list's areas): a flood in one area waits for later runs instead of crowding the
    others out, and the places it leaves go to the next most certain papers of other areas. Reasons are checked
    in the order of SKIP_REASONS: a paper already in the list counts as `in_list` even when it is blocked too.
    """
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    paper_sections = {section_path(s) for s in lst.paper_sections()}
    # Any arXiv id anywhere in the file counts (an id cited in a note is still "in the list").
    list_ids = {e.arxiv_id for e in lst.entries if e.arxiv_id} | set(getattr(lst, "arxiv_lines", {}) or {})
    list_titles = {normalize_title(e.title) for e in lst.entries if e.title}
    list_titles.discard("")
    blocked = {paper_key(b) for b in blocked_ids}

    def order(c: Mapping[str, Any]) -> tuple[float, str]:
        return (-float(c.get("score") or 0.0), paper_id(c))

    chosen: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    seen_titles: set[str] = set()
    per_top: dict[str, int] = {}
    for cand in sorted(candidates, key=order):
        pid = paper_id(cand)
        title = normalize_title(str(cand.get("title") or ""))
        if pid in list_ids or (title and title in list_titles):
            skipped["in_list"] += 1
        elif pid in blocked:
            skipped["blocked"] += 1
        elif float(cand.get("score") or 0.0) < min_score or cand.get("relevant") in (0, False):
            skipped["below_floor"] += 1
        elif not cand.get("section") or cand["section"] not in paper_sections:
            skipped["no_section"] += 1
        elif pid in seen_ids or (title and title in seen_titles):
            # The same paper twice in the input, or two versions of one paper under different ids.
            skipped["duplicate_title"] += 1
        elif per_section > 0 and per_top.get(area_of(cand["section"]), 0) >= per_section:
            skipped["over_section_cap"] += 1
        elif len(chosen) >= max(0, limit):
            skipped["over_cap"] += 1
        else:
            chosen.append({**cand, "id": pid})
            per_top[area_of(cand["section"])] = per_top.get(area_of(cand["section"]), 0) + 1
            seen_ids.add(pid)
            if title:
                seen_titles.add(title)
    return chosen, skipped
