"""One poisoned arXiv entry (a non-arXiv id, an ESC byte in a title) is skipped and reported; the rest is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from fakes.arxiv_emulator import ArxivEmulator
from lfmwatch.cli import cli
from lfmwatch.store.db import Store


def _papers() -> list[dict[str, str | list[str]]]:
    day = str(datetime.now(UTC).date() - timedelta(days=1))
    return [{"id": f"2611.{i:05d}", "title": f"Paper {i}", "abstract": f"Abstract {i}.", "authors": ["A"],
             "categories": ["cs.LG"], "published": day} for i in range(1, 7)]


def test_poisoned_entries_are_skipped_reported_and_do_not_wedge_the_poll(
    tmp_path: Path, monkeypatch: object
) -> None:
    Path("lfmwatch.toml").write_text("[arxiv]\ndelay_seconds = 0\nbackoff_seconds = 0.01\nmax_retries = 1\n"
                                     "page_size = 4\n")
    with ArxivEmulator(_papers()) as emu:
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", emu.url)  # type: ignore[attr-defined]
        emu.inject("poison", count=1000, entries={
            "2611.00002": {"entry_id": "http://example.org/../../etc/passwd';"},
            "2611.00005": {"title": "Merging \x1b[31mred\x1b[0m models &#27; too"},
        })
        for _ in range(2):  # the rerun is not wedged either: same answer, exit 0
            result = CliRunner().invoke(cli, ["poll"])
            assert result.exit_code == 0, result.output
            assert "Traceback" not in result.output
            assert "etc/passwd" in result.output and "2611.00005" in result.output
            assert "\x1b" not in result.output
        with Store(tmp_path / "state.db") as store:
            ids = sorted(r[0] for r in store.db.execute("SELECT id FROM papers"))
            (row,) = store.db.execute("SELECT error FROM runs WHERE kind = 'poll' ORDER BY id DESC LIMIT 1")
    assert ids == ["2611.00001", "2611.00003", "2611.00004", "2611.00006"]
    assert "in window" in row[0] and "2611.00005" in row[0] and "XML 1.0" in row[0]
