"""`lfmwatch import`: JSONL and JSONL.gz, bad lines counted with line numbers, damaged files, reruns, search."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from fakes.cli_run import run
from lfmwatch.errors import InputError
from lfmwatch.ingest.importer import BATCH, import_jsonl
from lfmwatch.store.db import Store
from lfmwatch.store.papers import get_papers


def rec(i: int, **kw: object) -> dict:
    return {"id": f"2501.{i:05d}", "title": f"Paper {i} on knowledge distillation", "abstract": f"Abstract {i}.",
            "authors": ["A. B"], "categories": ["cs.CL", "cs.LG"], "comment": None, "listed": "2025-01-02",
            "source_repo": "x/y", **kw}


GOOD = [rec(1), rec(2), rec(3, title="Model merging by task arithmetic")]
LINES = [
    json.dumps(GOOD[0]),
    "{not json",
    json.dumps(GOOD[1]),
    "",
    json.dumps({"id": "2501.00009", "title": "no abstract"}),
    json.dumps(["a", "list"]),
    json.dumps(rec(7, id="garbage")),
    json.dumps(GOOD[2]),
    json.dumps(rec(8, listed="02/01/2025")),
]


def write(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["papers.jsonl", "papers.jsonl.gz"])
def test_import_counts_bad_lines_and_keeps_the_rest(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, LINES)
    with Store(tmp_path / "s.db") as store:
        result = import_jsonl(store, path)
        assert (result.read, result.new, result.updated, result.bad) == (8, 3, 0, 5)
        assert [n for n, _ in result.bad_lines] == [2, 5, 6, 7, 9]
        reasons = dict(result.bad_lines)
        assert "invalid JSON" in reasons[2] and "abstract" in reasons[5] and "object" in reasons[6]
        assert "arXiv id" in reasons[7] and "listed" in reasons[9]
        p = get_papers(store, ["2501.00003"])["2501.00003"]
        assert p["title"] == "Model merging by task arithmetic" and p["categories"] == ["cs.CL", "cs.LG"]
        assert p["listed"] == "2025-01-02" and p["source"] == "import" and p["primary_category"] == "cs.CL"
        (r,) = store.last_runs("import")
        assert r["status"] == "ok" and r["counts"]["bad"] == 5 and r["new"] == 3


def test_cli_import_reports_counts_and_line_numbers_then_rerun_is_nothing_new(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", LINES)
    code, out = run("import", str(path))
    assert code == 0
    assert "read 8, new 3, updated 0, bad 5 (lines 2, 5, 6, 7, 9)" in out
    assert "line 2: invalid JSON" in out
    code, out = run("import", str(path))
    assert code == 0 and "new 0, updated 0" in out and "nothing new" in out
    code, out = run("search", "task", "arithmetic")
    assert code == 0 and out.startswith("2501.00003\t2025-01-02\tModel merging by task arithmetic")
    code, out = run("search", "quantum chromodynamics")
    assert code == 0 and "no stored paper matches" in out
    code, out = run("status")
    assert code == 0 and "papers: 3" in out


def test_corrected_record_updates_and_keeps_first_seen(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        import_jsonl(store, write(tmp_path / "a.jsonl", [json.dumps(GOOD[0])]))
        store.db.execute("UPDATE papers SET first_seen = 'then'")
        result = import_jsonl(store, write(tmp_path / "b.jsonl", [json.dumps(rec(1, title="Fixed title"))]))
        assert (result.new, result.updated) == (0, 1)
        p = get_papers(store, ["2501.00001"])["2501.00001"]
        assert p["title"] == "Fixed title" and p["first_seen"] == "then"


def test_many_lines_batched(tmp_path: Path) -> None:
    n = BATCH * 2 + 17
    path = write(tmp_path / "big.jsonl.gz", [json.dumps(rec(i)) for i in range(n)] + [json.dumps(rec(0))])
    seen = []
    with Store(tmp_path / "s.db") as store:
        result = import_jsonl(store, path, progress=lambda done, total: seen.append((done, total)))
        assert (result.read, result.new, result.bad) == (n + 1, n, 0)
        assert store.db["papers"].count == n
    assert len(seen) >= 3 and seen[-1][0] == seen[-1][1] == path.stat().st_size


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    code, out = run("import", str(tmp_path / "nope.jsonl"))
    assert code == 1 and "no such file" in out


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    full = gzip.compress(("\n".join(json.dumps(rec(i)) for i in range(3000)) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(full[: len(full) * 2 // 3])
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(InputError, match="damaged") as err:
            import_jsonl(store, path)
        assert "import it again" in str(err.value)
        kept = store.db["papers"].count
        assert 0 < kept < 3000
        assert store.last_runs("import")[0]["status"] == "failed"
    assert os.path.exists(tmp_path / "s.db")


def test_non_utf8_line_is_bad_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(json.dumps(GOOD[0]).encode() + b"\n\xff\xfe{\n" + json.dumps(GOOD[1]).encode() + b"\n")
    with Store(tmp_path / "s.db") as store:
        result = import_jsonl(store, path)
    assert (result.new, result.bad) == (2, 1) and result.bad_lines[0][0] == 2


@pytest.mark.shared
def test_import_shared_corpus_sample(shared_data: Path, tmp_path: Path) -> None:
    """The first 3,000 lines of the real corpus import cleanly."""
    with gzip.open(shared_data / "arxiv-corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(3000)]
    path = tmp_path / "sample.jsonl"
    path.write_text("".join(lines))
    with Store(tmp_path / "s.db") as store:
        result = import_jsonl(store, path)
    assert result.bad == 0 and result.new == len({json.loads(line)["id"] for line in lines})


def test_bulk_import_defers_fts_and_rebuilds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lfmwatch.ingest.importer as importer

    monkeypatch.setattr(importer, "BULK_MIN_PAPERS", 1)
    path = write(tmp_path / "p.jsonl", LINES)
    with Store(tmp_path / "s.db") as store:
        store.db["papers"].insert({"id": "2401.00001", "title": "Already here: distillation", "abstract": "x"})
        result = import_jsonl(store, path)
        assert result.new == 3
        assert {t.name for t in store.db.triggers} >= {"papers_ai", "papers_ad", "papers_au"}
        from lfmwatch.store.papers import search_papers

        assert {p["id"] for p in search_papers(store, "distillation")} == {"2401.00001", "2501.00001", "2501.00002"}
        store.db.execute("INSERT INTO papers_fts(papers_fts) VALUES('integrity-check')")


def test_crash_inside_bulk_import_is_repaired_on_next_open(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "s.db"
    script = (
        "import os, sys\n"
        "from lfmwatch.store.db import Store\n"
        "s = Store(sys.argv[1])\n"
        "with s.defer_fts():\n"
        "    s.db['papers'].insert({'id': '2401.00001', 'title': 'Distillation', 'abstract': 'x'})\n"
        "    os._exit(9)  # the process dies with the triggers dropped and the index stale\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(db)], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    with Store(db) as store:
        from lfmwatch.store.papers import search_papers

        assert [p["id"] for p in search_papers(store, "distillation")] == ["2401.00001"]
        assert {t.name for t in store.db.triggers} >= {"papers_ai", "papers_ad", "papers_au"}


def test_status_on_a_terminal_shows_bracketed_text_verbatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Run errors and reasons are remote text (arXiv/GitHub messages, queries with [A TO B]): never rich markup.
    import types

    import lfmwatch.cli.ingest_cmds as ingest_cmds

    with Store(os.environ["LFMWATCH_DB"]) as s:
        run_id = s.start_run("poll", window_start="2025-06-01T00:00", window_end="2025-06-01T23:59")
        s.finish_run(run_id, "failed", error="arXiv API error: bad query submittedDate:[2025 TO x] [/bold] [red]x")
    tty = types.SimpleNamespace(stdout=types.SimpleNamespace(isatty=lambda: True), stderr=types.SimpleNamespace(
        isatty=lambda: False))
    monkeypatch.setattr(ingest_cmds, "sys", tty)
    monkeypatch.setenv("COLUMNS", "400")
    code, out = run("status")
    assert code == 0, out
    assert "submittedDate:[2025 TO x] [/bold] [red]x" in " ".join(out.split())


def test_search_prints_no_terminal_escapes_from_titles(tmp_path: Path) -> None:
    hostile = {"id": "2506.00099", "title": "Merging \x1b]8;;http://evil\x07models\x1b[2J now", "abstract": "x"}
    write(tmp_path / "h.jsonl", [json.dumps(hostile)])
    assert run("import", str(tmp_path / "h.jsonl"))[0] == 0
    code, out = run("search", "merging")
    assert code == 0 and "2506.00099" in out and "\x1b" not in out and "\x07" not in out


def test_damage_is_reported_at_the_right_line(tmp_path: Path) -> None:
    lines = []
    for i in range(3000):
        lines += [json.dumps(rec(i)), ""]  # blank lines count as lines too
    full = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(full[: len(full) * 2 // 3])
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(InputError) as err:
            import_jsonl(store, path)
        kept = store.db["papers"].count
    line = int(str(err.value).split("damaged after line ", 1)[1].split(" ", 1)[0])
    assert line in (2 * kept, 2 * kept - 1, 2 * kept + 1)
