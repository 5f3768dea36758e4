"""Paper records: normalisation, upsert semantics (versions, first_seen), get, iterate, full-text search."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lfmwatch.store.db import Store
from lfmwatch.store.papers import (
    RecordError,
    fts_query,
    get_papers,
    iter_papers,
    merge_rows,
    paper_from_record,
    search_papers,
    split_id,
    upsert_papers,
)


def _p(pid: str, version: int | None = 1, **kw: object) -> dict:
    base = {"id": pid, "version": version, "title": f"Title {pid}", "abstract": "An abstract.",
            "authors": ["Ada L"], "categories": ["cs.LG", "cs.AI"], "published": "2025-06-01T10:00:00+00:00",
            "updated": "2025-06-01T10:00:00+00:00", "listed": "2025-06-01"}
    return {**base, **kw}


@pytest.mark.parametrize(("raw", "expected"), [
    ("2501.01234", ("2501.01234", None)),
    ("2501.01234v3", ("2501.01234", 3)),
    ("http://arxiv.org/abs/2501.01234v2", ("2501.01234", 2)),
    ("https://arxiv.org/abs/cs/0112017v1", ("cs/0112017", 1)),
    ("math.AP/0601001", ("math/0601001", None)),
    ("https://arxiv.org/pdf/math.AP/0601001v3", ("math/0601001", 3)),
])
def test_split_id(raw: str, expected: tuple) -> None:
    assert split_id(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "2501.1", "http://example.com/2501.01234"])
def test_split_id_rejects(raw: str) -> None:
    with pytest.raises(RecordError):
        split_id(raw)


def test_record_normalisation() -> None:
    p = paper_from_record({"id": "2501.01234v2", "title": " A\n  title ", "abstract": "x\ty", "authors": ["A"],
                           "categories": ["cs.CL", "cs.LG"], "comment": "", "listed": "2025-01-03"})
    assert p["id"] == "2501.01234" and p["version"] == 2
    assert p["title"] == "A title" and p["abstract"] == "x y"
    assert p["primary_category"] == "cs.CL" and p["comment"] is None and p["listed"] == "2025-01-03"


@pytest.mark.parametrize(("obj", "reason"), [
    ({"title": "t", "abstract": "a"}, "id"),
    ({"id": "2501.01234", "abstract": "a"}, "title"),
    ({"id": "2501.01234", "title": "t", "abstract": " "}, "abstract"),
    ({"id": "nope", "title": "t", "abstract": "a"}, "arXiv id"),
    ({"id": "2501.01234", "title": "t", "abstract": "a", "authors": "A, B"}, "authors"),
    ({"id": "2501.01234", "title": "t", "abstract": "a", "listed": "03/01/2025"}, "listed"),
    ({"id": "2501.01234", "title": "t", "abstract": "a", "listed": "2025-02-30"}, "listed"),
])
def test_record_errors_say_why(obj: dict, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        paper_from_record(obj)


def test_insert_then_identical_is_neither(store: Store) -> None:
    assert upsert_papers(store, [_p("2506.00001"), _p("2506.00002")], "arxiv") == (2, 0)
    assert upsert_papers(store, [_p("2506.00001"), _p("2506.00002")], "arxiv") == (0, 0)
    assert upsert_papers(store, [_p("2506.00001")], "import") == (0, 0)  # another source alone is no update


def test_new_version_updates_and_keeps_first_seen(store: Store) -> None:
    upsert_papers(store, [_p("2506.00001")], "arxiv")
    first = get_papers(store, ["2506.00001"])["2506.00001"]
    v2 = _p("2506.00001", 2, title="Better heading", abstract="New summary", updated="2025-06-09T00:00:00+00:00")
    assert upsert_papers(store, [v2], "arxiv") == (0, 1)
    now = get_papers(store, ["2506.00001"])["2506.00001"]
    assert (now["version"], now["title"], now["abstract"]) == (2, "Better heading", "New summary")
    assert now["first_seen"] == first["first_seen"] and now["listed"] == "2025-06-01"
    assert search_papers(store, "better") and not search_papers(store, "Title")  # FTS follows the update
    # an older version arriving late changes nothing
    assert upsert_papers(store, [_p("2506.00001", 1)], "arxiv") == (0, 0)
    assert get_papers(store, ["2506.00001"])["2506.00001"]["title"] == "Better heading"


def test_unversioned_import_only_fills_gaps_of_a_polled_row(store: Store) -> None:
    upsert_papers(store, [_p("2506.00001", comment=None)], "arxiv")
    imported = _p("2506.00001", None, title="corpus title", comment="10 pages")
    assert upsert_papers(store, [imported], "import") == (0, 1)
    row = get_papers(store, ["2506.00001"])["2506.00001"]
    assert row["title"] == "Title 2506.00001" and row["comment"] == "10 pages"


def test_duplicates_in_one_batch_are_stored_once(store: Store) -> None:
    assert upsert_papers(store, [_p("2506.00001"), _p("2506.00001", 2, title="v2")], "arxiv") == (1, 0)
    assert get_papers(store, ["2506.00001"])["2506.00001"]["title"] == "v2"


def test_merge_rows_is_identity_for_same_row() -> None:
    row = {"id": "x", "version": 1, "title": "t", "source": "a", "first_seen": "f", "listed": "l"}
    assert merge_rows(row, {**row, "source": "b"}) == row


def test_get_and_iter(store: Store) -> None:
    upsert_papers(store, [_p(f"2506.{i:05d}") for i in range(1, 1200)], "arxiv")
    got = get_papers(store, ["2506.00001", "2506.01199", "9999.99999"])
    assert set(got) == {"2506.00001", "2506.01199"}
    assert got["2506.00001"]["authors"] == ["Ada L"] and got["2506.00001"]["categories"] == ["cs.LG", "cs.AI"]
    assert sum(1 for _ in iter_papers(store)) == 1199
    assert [p["id"] for p in iter_papers(store, "id < ?", ["2506.00003"])] == ["2506.00001", "2506.00002"]


def test_search_ranks_title_first_and_survives_fts_syntax(store: Store) -> None:
    upsert_papers(store, [
        _p("2506.00001", title="A survey of vision", abstract="Model merging appears here once."),
        _p("2506.00002", title="Model merging with task vectors", abstract="We study merging models."),
        _p("2506.00003", title="Unrelated", abstract="Nothing to see."),
    ], "arxiv")
    assert [p["id"] for p in search_papers(store, "model merging")] == ["2506.00002", "2506.00001"]
    for nasty in ['"unbalanced', "merging AND (", "NEAR(", "title:merging", "*", "-merging", "'; DROP TABLE papers"]:
        search_papers(store, nasty)  # never raises
    assert search_papers(store, "   ") == []
    assert len(search_papers(store, "merging", limit=1)) == 1
    assert fts_query('a "b" c*') == '"a" "b" "c"'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_any_user_text_is_a_safe_search(store: Store, text: str) -> None:
    upsert_papers(store, [_p("2506.00001", title="Model merging")], "arxiv")
    hits = search_papers(store, text)
    assert isinstance(hits, list) and len(hits) <= 1
