"""select_papers: order, caps and every skip reason (pure)."""

from __future__ import annotations

import random

from lfmwatch.awesome import parse_list
from lfmwatch.select import SKIP_REASONS, select_papers

LIST = parse_list("""# L

## Contents

- [A](#a)

## A

- [[arXiv](https://arxiv.org/abs/2001.00001)] Known paper

## B

- [[Blog](https://example.org/x)] A paper linked elsewhere
""", exclude=["Contents"])


def cand(pid: str, score: float, section: str | None = "A", title: str | None = None) -> dict:
    return {"id": pid, "title": title or f"Paper {pid}", "score": score, "section": section, "relevant": 1}


def test_best_first_with_caps_and_reasons() -> None:
    cands = [
        cand("2101.00005", 0.50),
        cand("2101.00001", 0.90),
        cand("2101.00002", 0.90, "B"),
        cand("2001.00001v2", 0.99),  # in the list by id (any version)
        cand("2101.00003", 0.95, title="A Paper Linked  Elsewhere"),  # in the list by title
        cand("2101.00004", 0.97),  # blocked
        cand("2101.00006", 0.96, "Contents"),  # excluded heading
        cand("2101.00007", 0.96, None),
        cand("2101.00008", 0.10),  # below the floor
        cand("2101.00009", 0.80, title="Paper 2101.00001"),  # same title as a better one
        cand("2101.00010", 0.40),
    ]
    chosen, skipped = select_papers(cands, LIST, {"2101.00004"}, limit=3, min_score=0.2)
    assert [c["id"] for c in chosen] == ["2101.00001", "2101.00002", "2101.00005"]
    assert skipped == {"in_list": 2, "blocked": 1, "below_floor": 1, "no_section": 2, "duplicate_title": 1,
                       "over_section_cap": 0, "over_cap": 1}
    assert set(skipped) == set(SKIP_REASONS)


def test_deterministic_and_zero_limit() -> None:
    cands = [cand(f"2101.{i:05d}", (i % 7) / 7) for i in range(1, 40)]
    first, _ = select_papers(cands, LIST, set(), limit=10)
    shuffled = cands[:]
    random.Random(3).shuffle(shuffled)
    assert select_papers(shuffled, LIST, set(), limit=10)[0] == first
    none, skipped = select_papers(cands, LIST, set(), limit=0)
    assert none == [] and skipped["over_cap"] == 39


SUBLIST = parse_list("""# L

## A

### A1

- [[arXiv](https://arxiv.org/abs/2001.00001)] Known paper

### A2

## B

## C
""")


def test_per_section_cap_spreads_a_flood_over_the_areas() -> None:
    # A flood of area A (two leaves, both count for A) and fewer, less certain papers of B and C.
    flood = [cand(f"2101.{i:05d}", 0.99 - i / 100, "A > A1" if i % 2 else "A > A2") for i in range(1, 9)]
    others = [cand("2102.00001", 0.50, "B"), cand("2102.00002", 0.40, "C"), cand("2102.00003", 0.30, "B")]
    chosen, skipped = select_papers(flood + others, SUBLIST, set(), limit=6, per_section=3)
    ids = [c["id"] for c in chosen]
    # Most certain first; A stops at three, the places it leaves go to B and C.
    assert ids == ["2101.00001", "2101.00002", "2101.00003", "2102.00001", "2102.00002", "2102.00003"]
    assert skipped["over_section_cap"] == 5 and skipped["over_cap"] == 0
    # Without the cap the flood takes the whole run.
    uncapped, skipped = select_papers(flood + others, SUBLIST, set(), limit=6)
    assert [c["id"] for c in uncapped] == [f"2101.{i:05d}" for i in range(1, 7)]
    assert skipped["over_section_cap"] == 0 and skipped["over_cap"] == 5
