"""ArxivSource against the loopback emulator, driven by the real arxiv.Client: paging, retries, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fakes.arxiv_emulator import ArxivEmulator, compile_query
from lfmwatch.adapters.arxiv import ArxivSource, _retry_after
from lfmwatch.config import Config
from lfmwatch.errors import NetworkError

QUERY = "(cat:cs.LG OR cat:stat.ML) AND submittedDate:[202506010000 TO 202506022359]"


def make_papers(n: int = 23, day: str = "2025-06-01") -> list[dict]:
    """n papers on `day`: odd ones in cs.LG (+stat.ML cross-list), even ones in math.AP."""
    return [
        {"id": f"2506.{i:05d}", "title": f"Paper {i}: merging & <editing>", "abstract": f"Abstract\n  of {i}.",
         "authors": ["Ada Lovelace", "Alan Turing"], "categories": ["cs.LG", "stat.ML"] if i % 2 else ["math.AP"],
         "comment": "9 pages" if i % 3 == 0 else None, "published": day}
        for i in range(1, n + 1)
    ]


@pytest.fixture
def emu() -> Iterator[ArxivEmulator]:
    with ArxivEmulator(make_papers()) as e:
        yield e


def source(emu: ArxivEmulator, **kw: object) -> ArxivSource:
    opts = {"delay_seconds": 0, "timeout": 2.0, "max_retries": 3, "backoff": 0.01, "page_size": 5, **kw}
    return ArxivSource(emu.url, **opts)  # type: ignore[arg-type]


def test_pages_through_all_results_in_submission_order(emu: ArxivEmulator) -> None:
    src = source(emu)
    stream = src.search(QUERY)
    papers = list(stream)
    assert stream.total == 12 and len(papers) == 12
    assert [p["published"] for p in papers] == sorted(p["published"] for p in papers)
    assert src.stats.requests == 3 and src.stats.retries == 0
    starts = [r["params"]["start"] for r in emu.query_requests]
    assert starts == ["0", "5", "10"]
    assert emu.query_requests[0]["params"]["sortBy"] == "submittedDate"
    p = next(p for p in papers if p["id"] == "2506.00001")
    assert p["version"] == 1
    assert p["title"] == "Paper 1: merging & <editing>" and p["abstract"] == "Abstract of 1."
    assert p["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert p["categories"] == ["cs.LG", "stat.ML"] and p["primary_category"] == "cs.LG"
    assert p["published"].startswith("2025-06-01T") and p["listed"] == "2025-06-01"


def test_max_results_and_empty_result(emu: ArxivEmulator) -> None:
    src = source(emu)
    assert len(list(src.search("cat:cs.LG", max_results=7))) == 7
    stream = src.search("cat:q-bio.NC")
    assert list(stream) == []


def test_fetch_ids_batches_and_skips_invalid(emu: ArxivEmulator) -> None:
    src = source(emu)
    ids = [f"2506.{i:05d}" for i in range(1, 12)] + ["2506.00003v1", "not-an-id", "2512.99999"]
    got = src.fetch_ids(ids, batch=4)
    assert sorted(p["id"] for p in got) == [f"2506.{i:05d}" for i in range(1, 12)]
    assert len(emu.query_requests) == 3
    assert all("id_list" in r["params"] for r in emu.query_requests)


def test_429_honours_retry_after(emu: ArxivEmulator) -> None:
    src = source(emu, backoff=0.01)
    emu.inject("429", retry_after=0.2)
    assert len(list(src.search(QUERY))) == 12
    assert [r["status"] for r in emu.query_requests][:2] == [429, 200]
    assert src.stats.pauses == [0.2]  # Retry-After won over the shorter backoff


def test_429_retries_are_bounded(emu: ArxivEmulator) -> None:
    src = source(emu, max_retries=2)
    emu.inject("429", count=10, retry_after=0)
    with pytest.raises(NetworkError, match="after 3 attempts: HTTP 429") as err:
        list(src.search(QUERY))
    assert "again later" in str(err.value)
    assert len(emu.query_requests) == 3


def test_huge_retry_after_gives_up_with_a_clear_message(emu: ArxivEmulator) -> None:
    emu.inject("429", retry_after=3600)
    with pytest.raises(NetworkError, match="asks to wait 3600 s"):
        list(source(emu).search(QUERY))


def test_503_backs_off_exponentially(emu: ArxivEmulator) -> None:
    src = source(emu, backoff=0.01)
    emu.inject("503", count=3)
    assert len(list(src.search(QUERY))) == 12
    assert src.stats.pauses == [0.01, 0.02, 0.04]


def test_400_is_not_retried(emu: ArxivEmulator) -> None:
    src = source(emu)
    with pytest.raises(NetworkError, match=r"arXiv API error: unexpected .*\(HTTP 400\)"):
        list(src.search("cat:cs.LG AND ("))
    assert len(emu.query_requests) == 1


def test_stall_past_timeout_is_retried(emu: ArxivEmulator) -> None:
    src = source(emu, timeout=0.3)
    emu.inject("stall", seconds=1.5)
    assert len(list(src.search(QUERY))) == 12
    assert src.stats.retries == 1
    assert emu.query_requests[0]["fault"] == "stall"


def test_dripping_response_is_cut_at_the_total_deadline(emu: ArxivEmulator) -> None:
    # Bytes keep coming, each well within the read timeout: only a deadline for the whole response stops it.
    src = source(emu, timeout=0.3, max_retries=1)
    emu.inject("drip", chunk=16, interval=0.05)
    t0 = time.monotonic()
    assert len(list(src.search(QUERY))) == 12
    assert src.stats.retries == 1 and emu.query_requests[0]["fault"] == "drip"
    assert time.monotonic() - t0 < 8  # without the deadline the drip lasts about 15 s


def test_disconnect_is_retried(emu: ArxivEmulator) -> None:
    src = source(emu)
    emu.inject("disconnect")
    assert len(list(src.search(QUERY))) == 12 and src.stats.retries == 1


def test_empty_page_in_the_middle_is_retried(emu: ArxivEmulator) -> None:
    src = source(emu)
    emu.inject("empty", when=lambda p: int(p.get("start", 0)) > 0)
    papers = list(src.search(QUERY))
    assert len({p["id"] for p in papers}) == 12
    faults = [(r["params"]["start"], r["fault"]) for r in emu.query_requests]
    assert faults == [("0", None), ("5", "empty"), ("5", None), ("10", None)]


def test_persistent_empty_page_fails_instead_of_losing_papers(emu: ArxivEmulator) -> None:
    emu.inject("empty", count=10, when=lambda p: int(p.get("start", 0)) > 0)
    with pytest.raises(NetworkError, match="empty page at start=5 of 12"):
        list(source(emu, max_retries=1).search(QUERY))


def test_empty_first_page_with_results_is_retried(emu: ArxivEmulator) -> None:
    emu.inject("empty")
    assert len(list(source(emu).search(QUERY))) == 12


def test_malformed_xml_is_retried_then_fails_clearly(emu: ArxivEmulator) -> None:
    src = source(emu)
    emu.inject("malformed")
    assert len(list(src.search(QUERY))) == 12
    emu.inject("malformed", count=10)
    with pytest.raises(NetworkError, match="malformed XML"):
        list(source(emu, max_retries=2).search(QUERY))


@pytest.mark.parametrize("status", [200, 400])
def test_error_feed_is_an_error_not_an_empty_result(emu: ArxivEmulator, status: int) -> None:
    emu.inject("error_feed", status=status, message="malformed query: cat:cs.LG AND (")
    with pytest.raises(NetworkError, match="malformed query") as err:
        list(source(emu).search(QUERY))
    assert "lfmwatch.toml" in str(err.value)
    assert len(emu.query_requests) == 1  # not retried: the query itself is wrong


def test_a_paper_titled_error_is_a_paper_not_an_error_feed() -> None:
    paper = {"id": "2506.00042", "title": "Error", "abstract": "On errors.", "categories": ["cs.LG"],
             "published": "2025-06-01"}
    with ArxivEmulator([paper]) as e:
        got = list(source(e).search(QUERY))
        assert [p["id"] for p in got] == ["2506.00042"] and got[0]["title"] == "Error"
        assert [p["id"] for p in source(e).fetch_ids(["2506.00042"])] == ["2506.00042"]


def test_other_4xx_is_not_retried(emu: ArxivEmulator) -> None:
    emu.inject("status", status=404)
    with pytest.raises(NetworkError, match="HTTP 404"):
        list(source(emu).search(QUERY))
    assert len(emu.query_requests) == 1


def test_connection_refused_is_a_network_error() -> None:
    with ArxivEmulator() as e:
        url = e.url
    src = ArxivSource(url, delay_seconds=0, timeout=0.5, max_retries=1, backoff=0.01)
    with pytest.raises(NetworkError, match="connection failed"):
        list(src.search("cat:cs.LG"))


def test_from_config_reads_endpoint_and_politeness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", "http://127.0.0.1:9/api/query")
    cfg = Config()
    cfg.arxiv.delay_seconds, cfg.arxiv.max_retries, cfg.arxiv.page_size = 0.5, 7, 50
    src = ArxivSource.from_config(cfg)
    assert (src.api_url, src.delay_seconds, src.max_retries, src.page_size, src.timeout) == (
        "http://127.0.0.1:9/api/query", 0.5, 7, 50, 30.0)
    assert src._client.query_url_format == "http://127.0.0.1:9/api/query?{}"
    assert ArxivSource.from_config(Config()).delay_seconds == 3.0  # arXiv's terms by default


def test_retry_after_parsing() -> None:
    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait


def test_emulator_query_subset() -> None:
    with ArxivEmulator(make_papers(6)) as e:
        src = source(e)
        ids = lambda q: sorted(p["id"] for p in src.search(q))  # noqa: E731
        assert ids("cat:math.AP ANDNOT ti:\"Paper 2\"") == ["2506.00004", "2506.00006"]
        assert ids("(cat:math.AP OR cat:stat.ML) AND abs:\"of 3\"") == ["2506.00003"]
        assert ids("cat:stat.*") == ["2506.00001", "2506.00003", "2506.00005"]
        assert ids("submittedDate:[202506020000 TO 202506030000]") == []
    with pytest.raises(ValueError):
        compile_query("cat:cs.LG AND")
