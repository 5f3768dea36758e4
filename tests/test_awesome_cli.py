"""`lfmwatch sections` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lfmwatch.cli import cli

README = (
    "# List\r\n\r\n## Table of Contents\r\n- [A](#a)\r\n\r\n## A\r\n\r\n"
    "- [[arXiv](https://arxiv.org/abs/2001.00001)] One\r\n\r\n"
    "- [[arXiv](https://arxiv.org/pdf/2001.00001v2)] One again\r\n\r\n"
    "### A1\r\n- [[ICML](https://icml.example/p)] Venue paper\r\n"
    "<!--\r\n## Hidden\r\n-->\r\n## Citation\r\n```\r\n@x\r\n```\r\n"
)


def test_sections_json(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_bytes(README.encode())
    result = CliRunner().invoke(cli, ["sections", "--readme", str(readme), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["path"], r["entries"], r["excluded"]) for r in rows] == [
        ("Table of Contents", 0, True),
        ("A", 2, False),
        ("A > A1", 1, False),
        ("Citation", 0, True),
    ]
    assert rows[1]["level"] == 2 and rows[1]["line"] == 6
    assert readme.read_bytes() == README.encode()


def test_sections_text_reports_tree_and_duplicates(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_bytes(README.encode())
    result = CliRunner().invoke(cli, ["sections", "--readme", str(readme)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "A  (2)" in lines and "  A1  (1)" in lines
    assert any("[excluded]" in ln and "Citation" in ln for ln in lines)
    assert any("2001.00001" in ln and "line 8" in ln and "line 10" in ln for ln in lines)


def test_sections_uses_configured_exclusions(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_bytes(README.encode())
    (tmp_path / "lfmwatch.toml").write_text('[target]\nexclude_sections = ["A1"]\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["sections", "--readme", str(readme), "--json"])
    assert result.exit_code == 0, result.output
    assert {r["path"]: r["excluded"] for r in json.loads(result.output)} == {
        "Table of Contents": False, "A": False, "A > A1": True, "Citation": False,
    }


def test_sections_unreadable_file_is_a_clean_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sections", "--readme", str(tmp_path / "missing.md")])
    assert result.exit_code == 1
    assert "error:" in result.output and "missing.md" in result.output and "--readme" in result.output
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"# x\n\xff\xfe\n")
    result = CliRunner().invoke(cli, ["sections", "--readme", str(bad)])
    assert result.exit_code == 1 and "UTF-8" in result.output
    result = CliRunner().invoke(cli, ["sections", "--readme", str(tmp_path)])
    assert result.exit_code == 1 and "directory" in result.output


def test_sections_on_the_real_readme(shared_data: Path) -> None:
    result = CliRunner().invoke(cli, ["sections", "--readme", str(shared_data / "awesome-lfm" / "README.md"), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["path"]: r for r in json.loads(result.output)}
    assert rows["Model Tuning > Weight Enginerring > Fine Tuning"]["entries"] > 10
    assert rows["Model Reuse > Model Fusion > Weight Interpolation"]["entries"] > 10
    assert rows["Model Editing > Parameter Based Model Editing > Meta Learning"]["entries"] >= 5
    assert rows["Citation"]["excluded"] and rows["Table of Contents"]["excluded"]
