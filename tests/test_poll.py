"""`lfmwatch poll` end to end: CLI -> poll -> ArxivSource -> real arxiv.Client -> loopback emulator -> SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from fakes.arxiv_emulator import ArxivEmulator
from fakes.cli_run import run
from lfmwatch.config import Config
from lfmwatch.ingest.poll import WATERMARK_KEY, build_query, plan_windows
from lfmwatch.store.db import Store
from lfmwatch.store.papers import get_papers

CATS = ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"]  # the default configuration


def corpus(days: list[str], per_day: int = 9) -> list[dict]:
    """Per day: papers cycling through in-scope, cross-listed and out-of-scope categories."""
    cats = [["cs.LG"], ["cs.CL", "cs.LG"], ["math.AP"], ["cs.CV", "eess.IV"], ["eess.AS"], ["stat.ML", "cs.LG"],
            ["cs.AI"], ["q-bio.NC", "cs.LG"], ["hep-th"]]
    out = []
    for d, day in enumerate(days):
        for i in range(per_day):
            out.append({"id": f"2506.{d:02d}{i:03d}", "title": f"Paper {day} #{i} on model merging",
                        "abstract": f"Abstract {i}.", "authors": ["A. Author"], "categories": cats[i % len(cats)],
                        "published": day})
    return out


def in_scope(papers: list[dict], start: str, end: str) -> set[str]:
    """Ids of papers with any configured category, submitted in [start, end] (days)."""
    return {p["id"] for p in papers if start <= p["published"][:10] <= end and set(p["categories"]) & set(CATS)}


DAYS = ["2025-05-30", "2025-05-31", "2025-06-01", "2025-06-02", "2025-06-03", "2025-06-04"]


def write_config(extra: str = "", **arxiv: object) -> None:
    opts = {"delay_seconds": 0, "backoff_seconds": 0.01, "timeout_seconds": 2, "page_size": 4, "max_retries": 2,
            "window_days": 1, **arxiv}  # one-day windows: the tests follow the watermark window by window
    lines = ["[arxiv]"] + [f"{k} = {json.dumps(v)}" for k, v in opts.items()]
    Path("lfmwatch.toml").write_text("\n".join(lines) + "\n" + extra)


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArxivEmulator]:
    with ArxivEmulator(corpus(DAYS)) as e:
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", e.url)
        write_config()
        yield e


def stored_ids() -> set[str]:
    with Store(os.environ["LFMWATCH_DB"]) as s:
        return {r["id"] for r in s.db["papers"].rows}


def state(key: str) -> object:
    with Store(os.environ["LFMWATCH_DB"]) as s:
        return s.get_state(key)


def test_window_stores_exactly_the_configured_categories(emu: ArxivEmulator) -> None:
    code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
    expected = in_scope(corpus(DAYS), "2025-06-01", "2025-06-03")
    assert code == 0, out
    assert out.strip() == f"fetched {len(expected)}, new {len(expected)}, updated 0, window 2025-06-01..2025-06-03"
    assert stored_ids() == expected
    assert state(WATERMARK_KEY) == "2025-06-03T23:59"
    queries = {r["params"]["search_query"] for r in emu.query_requests}
    assert "(cat:cs.LG OR cat:cs.CL OR cat:cs.CV OR cat:cs.AI OR cat:stat.ML) AND " \
           "submittedDate:[202506010000 TO 202506012359]" in queries
    with Store(os.environ["LFMWATCH_DB"]) as s:
        (r,) = s.last_runs("poll")
        assert (r["status"], r["fetched"], r["new"], r["window_start"], r["window_end"]) == (
            "ok", len(expected), len(expected), "2025-06-01T00:00", "2025-06-03T23:59")
        assert r["counts"]["requests"] == len(emu.query_requests)
        cross = get_papers(s, ["2506.02001"])["2506.02001"]  # cs.CL + cs.LG: stored once, primary first
        assert cross["categories"] == ["cs.CL", "cs.LG"] and cross["primary_category"] == "cs.CL"


def test_rerun_adds_nothing_and_says_why(emu: ArxivEmulator) -> None:
    run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
    before = stored_ids()
    code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
    assert code == 0
    assert "new 0, updated 0" in out and "already stored, unchanged" in out
    assert stored_ids() == before


def test_nothing_submitted_is_exit_0_with_reason(emu: ArxivEmulator) -> None:
    code, out = run("poll", "--since", "2024-01-01", "--until", "2024-01-02")
    assert code == 0
    assert out.strip() == ("fetched 0, new 0, updated 0, window 2024-01-01..2024-01-02 (arXiv lists no papers of "
                           "the configured categories submitted in 2024-01-01..2024-01-02)")


def test_new_version_updates_row_and_keeps_first_seen(emu: ArxivEmulator) -> None:
    run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
    with Store(os.environ["LFMWATCH_DB"]) as s:
        first_seen = get_papers(s, ["2506.02000"])["2506.02000"]["first_seen"]
        s.db.execute("UPDATE papers SET first_seen = '2025-06-02T00:00:00+00:00' WHERE id = '2506.02000'")
    v2 = dict(next(p for p in corpus(DAYS) if p["id"] == "2506.02000"), version=2, title="Revised title",
              updated="2025-06-20T08:00:00Z")
    emu.add_papers([v2])
    code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
    assert code == 0 and "new 0, updated 1" in out
    with Store(os.environ["LFMWATCH_DB"]) as s:
        row = get_papers(s, ["2506.02000"])["2506.02000"]
    assert (row["version"], row["title"], row["updated"]) == (2, "Revised title", "2025-06-20T08:00:00+00:00")
    assert row["first_seen"] == "2025-06-02T00:00:00+00:00" != first_seen


def test_failure_halfway_keeps_completed_windows_and_rerun_converges(emu: ArxivEmulator, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Day 1 takes 2 pages (6 in scope, page size 4); the 4th request (day 2, page 2) fails for good.
    emu.inject("503", count=100, skip=3)
    code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
    assert code == 1
    assert "error: arXiv API failed after 3 attempts: HTTP 503" in out and "again later" in out
    assert state(WATERMARK_KEY) == "2025-06-01T23:59"  # only the completed window
    partial = stored_ids()
    assert in_scope(corpus(DAYS), "2025-06-01", "2025-06-01") < partial < in_scope(corpus(DAYS), "2025-06-01",
                                                                                    "2025-06-03")
    with Store(os.environ["LFMWATCH_DB"]) as s:
        (r,) = s.last_runs("poll")
        assert r["status"] == "failed" and "HTTP 503" in r["error"] and r["new"] == len(partial)
    emu.faults.clear()
    code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
    assert code == 0
    expected = in_scope(corpus(DAYS), "2025-06-01", "2025-06-03")
    assert f"new {len(expected - partial)}," in out
    assert stored_ids() == expected
    assert state(WATERMARK_KEY) == "2025-06-03T23:59"
    # same rows as a clean run into a fresh store
    monkeypatch.setenv("LFMWATCH_DB", str(tmp_path / "clean.db"))
    run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
    assert stored_ids() == expected


def test_killed_process_resumes_and_its_lock_is_recovered(emu: ArxivEmulator, tmp_path: Path) -> None:
    write_config(timeout_seconds=60)
    emu.inject("stall", seconds=20, skip=3)  # the 4th request hangs: the process is mid-window
    env = {**os.environ, "LFMWATCH_ARXIV_API_URL": emu.url}
    proc = subprocess.Popen([sys.executable, "-m", "lfmwatch", "poll", "--since", "2025-06-01", "--until",
                             "2025-06-03"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while len(emu.query_requests) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(emu.query_requests) == 4, proc.communicate(timeout=5)
    finally:
        proc.kill()
        proc.wait()
    with Store(os.environ["LFMWATCH_DB"]) as s:
        assert s.db["locks"].get("poll")["pid"] == proc.pid  # left behind by the killed process
        assert s.last_runs("poll")[0]["status"] == "running"
    assert state(WATERMARK_KEY) == "2025-06-01T23:59"
    write_config()
    code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
    assert code == 0, out
    expected = in_scope(corpus(DAYS), "2025-06-01", "2025-06-03")
    assert stored_ids() == expected
    with Store(os.environ["LFMWATCH_DB"]) as s:
        n = len(expected)
        assert s.db.execute("select count(*), count(distinct id) from papers").fetchone() == (n, n)
        assert s.db["locks"].count == 0
        assert [r["status"] for r in s.last_runs("poll")] == ["ok", "interrupted"]


def test_concurrent_poll_is_refused(emu: ArxivEmulator) -> None:
    with Store(os.environ["LFMWATCH_DB"]) as holder, holder.lock("poll"):
        code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-01")
    assert code == 1
    assert "error: another lfmwatch poll is running" in out and "wait for it to finish" in out
    assert emu.query_requests == []
    code, _ = run("poll", "--since", "2025-06-01", "--until", "2025-06-01")
    assert code == 0


def test_big_window_is_split_below_the_result_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    papers = corpus(["2025-06-01"], per_day=40)
    with ArxivEmulator(papers, result_limit=8) as e:  # the API serves at most 8 results per query
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", e.url)
        write_config(max_window_results=8, page_size=8)
        code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-01")
        assert code == 0, out
        assert stored_ids() == in_scope(papers, "2025-06-01", "2025-06-01")
        windows = {r["params"]["search_query"].rsplit("submittedDate:", 1)[1] for r in e.query_requests}
        assert len(windows) > 3
    assert state(WATERMARK_KEY) == "2025-06-01T23:59"


def test_catch_up_from_watermark_minus_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=n)).isoformat() for n in (9, 6, 2, 1)]
    papers = corpus(days, per_day=3)
    with ArxivEmulator(papers) as e:
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", e.url)
        write_config(first_poll_days=3, overlap_days=2, window_days=2)
        code, out = run("poll")  # first run: first_poll_days back
        assert code == 0, out
        assert f"window {(today - timedelta(days=3)).isoformat()}..{today.isoformat()}" in out
        assert stored_ids() == in_scope(papers, days[2], days[3])
        wm = datetime.strptime(str(state(WATERMARK_KEY)), "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
        assert wm.date() == today
        late = {"id": "2506.99999", "title": "Late indexed", "abstract": "x", "categories": ["cs.LG"],
                "published": days[3]}
        e.add_papers([late])
        code, out = run("poll")
        assert code == 0 and "new 1," in out
        assert f"window {(today - timedelta(days=2)).isoformat()}.." in out
        with Store(os.environ["LFMWATCH_DB"]) as s:
            assert s.last_runs("poll")[0]["window_start"] == f"{(today - timedelta(days=2)).isoformat()}T00:00"


def test_explicit_range_after_a_gap_does_not_move_the_watermark(emu: ArxivEmulator) -> None:
    run("poll", "--since", "2025-05-30", "--until", "2025-05-30")
    run("poll", "--since", "2025-06-03", "--until", "2025-06-04")  # a gap 05-31..06-02
    assert state(WATERMARK_KEY) == "2025-05-30T23:59"
    run("poll", "--since", "2025-05-31", "--until", "2025-06-01")
    assert state(WATERMARK_KEY) == "2025-06-01T23:59"


def test_extra_query_is_and_ed(emu: ArxivEmulator) -> None:
    emu.add_papers([{"id": "2506.77777", "title": "Adapters", "abstract": "LoRA adapters for LLMs",
                     "categories": ["cs.CL"], "published": "2025-06-01"}])
    write_config(extra_query='abs:"LoRA"')
    code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-01")
    assert code == 0 and stored_ids() == {"2506.77777"}
    assert 'AND (abs:"LoRA") AND submittedDate:' in emu.query_requests[0]["params"]["search_query"]


def test_rate_limit_during_poll_is_honoured(emu: ArxivEmulator) -> None:
    emu.inject("429", retry_after=0.1, skip=1)
    code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-01")
    assert code == 0 and "new 6," in out
    with Store(os.environ["LFMWATCH_DB"]) as s:
        assert s.last_runs("poll")[0]["counts"]["retries"] == 1


def test_error_feed_fails_the_poll_and_status_shows_it(emu: ArxivEmulator) -> None:
    emu.inject("error_feed", message="malformed query: cat:cs.LG")
    code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-01")
    assert code == 1 and "error: arXiv API error: malformed query" in out
    assert state(WATERMARK_KEY) is None
    code, out = run("status", "--json")
    info = json.loads(out)
    assert info["last_error"]["status"] == "failed" and "malformed query" in info["last_error"]["error"]
    assert info["last_successful_poll"] is None and info["papers"] == 0


@pytest.mark.parametrize(("args", "code", "text"), [
    (["--since", "2025-06-03", "--until", "2025-06-01"], 2, "is after --until"),  # usage: exit 2
    (["--since", "yesterday"], 2, "is not a date like 2025-06-01"),
])
def test_bad_dates(emu: ArxivEmulator, args: list[str], code: int, text: str) -> None:
    got, out = run("poll", *args)
    assert got == code and text in out


def test_plan_windows_and_query() -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    end = datetime(2025, 6, 3, 12, 30, tzinfo=UTC)
    assert [(a.strftime("%d %H:%M"), b.strftime("%d %H:%M")) for a, b in plan_windows(start, end, 2)] == [
        ("01 00:00", "02 23:59"), ("03 00:00", "03 12:30")]
    assert build_query(["cs.LG"], "", start, end) == "(cat:cs.LG) AND submittedDate:[202506010000 TO 202506031230]"
    assert Config().arxiv.max_window_results < 10000


@pytest.mark.shared
def test_poll_against_corpus_papers(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Done-when of the issue: an emulator serving corpus papers; poll 2025-06-01..03 stores exactly the right ones."""
    import gzip

    papers = []
    with gzip.open(shared_data / "arxiv-corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            if '"listed": "2025-05-3' not in line and '"listed": "2025-06-0' not in line:
                if papers:
                    break  # sorted by listed: past the days we need
                continue
            p = json.loads(line)
            if "2025-05-30" <= p["listed"] <= "2025-06-05" and p["categories"]:
                papers.append({**p, "published": p["listed"]})
    expected = in_scope(papers, "2025-06-01", "2025-06-03")
    assert len(expected) > 100
    with ArxivEmulator(papers) as e:
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", e.url)
        write_config(page_size=200)
        code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
        assert code == 0, out
        assert stored_ids() == expected
        code, out = run("poll", "--since", "2025-06-01", "--until", "2025-06-03")
        assert "new 0, updated 0" in out
    assert date.fromisoformat(str(state(WATERMARK_KEY))[:10]) == date(2025, 6, 3)


def test_status_after_polls_shows_counts_window_and_last_error(emu: ArxivEmulator) -> None:
    run("poll", "--since", "2025-06-01", "--until", "2025-06-01")
    emu.inject("503", count=10)
    run("poll", "--since", "2025-06-02", "--until", "2025-06-02")
    code, out = run("status")
    assert code == 0
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line and not line.startswith("run "))
    assert lines["papers"] == "6" and lines["watermark"] == "2025-06-01T23:59"
    assert "ok" in lines["last successful poll"] and "window 2025-06-01..2025-06-01; fetched 6, new 6" in \
        lines["last successful poll"]
    assert "failed" in lines["last error"] and "HTTP 503" in lines["last error"]
    info = json.loads(run("status", "--json")[1])
    assert info["last_poll"]["status"] == "failed" and info["last_successful_poll"]["new"] == 6
    code, out = run("search", "model", "merging", "--limit", "2")
    assert code == 0 and len(out.splitlines()) == 2 and out.split("\t")[1] == "2025-06-01"
