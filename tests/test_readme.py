"""The README stays true: every command, every configuration key, and the set-up commands CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from lfmwatch.cli import cli
from lfmwatch.config import describe_keys

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_is_documented() -> None:
    for name in cli.commands:
        assert f"`lfmwatch {name}" in README or f"/ `{name} " in README, f"README does not mention `lfmwatch {name}`"


def test_every_configuration_key_is_in_the_table() -> None:
    for key, default, _meaning in describe_keys():
        assert f"| `{key}` | `{default}` |" in README, f"README configuration table is stale for {key}"


def test_quick_start_matches_ci() -> None:
    quick = README.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", quick, re.S)
    assert block, "quick start has no bash block"
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 2, "the quick start is two commands: install, run the tests"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -c requirements/lock.txt -e ".[test]"' in lines[0]
    assert 'pip install --quiet -c requirements/lock.txt -e ".[test]"' in ci
    assert lines[1].strip() == "python -m pytest" and "python -m pytest" in ci


def test_the_layout_drawing_matches_the_tree() -> None:
    src = ROOT / "src" / "lfmwatch"
    drawing = README.split("## Development", 1)[1].split("```", 2)[1]
    drawn = set(re.findall(r"^[├└]── (\S+)", drawing, re.M))
    packages = {f"{p.name}/" for p in src.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.name for p in src.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert drawn == packages | modules, f"README tree: missing {sorted((packages | modules) - drawn)}, " \
                                         f"stale {sorted(drawn - packages - modules)}"
    for package in packages:  # every module of a package is named on its line
        line = next(ln for ln in drawing.splitlines() if f"── {package}" in ln)
        for mod in sorted((src / package).glob("*.py")):
            name = mod.stem
            if name != "__init__" and name not in line and not (name.endswith("_cmds") and "*_cmds" in line):
                raise AssertionError(f"README tree: {package} line does not name {name}")
