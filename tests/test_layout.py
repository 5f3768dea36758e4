"""The layout's rules, checked on the source tree: SQL only in the store, no import cycles, a pure core, small modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "lfmwatch"

# Statements, not words: upper-case keywords in the shape of a statement ("Select and propose" is prose).
_SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(?:CREATE|DROP)\s+(?:UNIQUE\s+|VIRTUAL\s+)?(?:TABLE|INDEX|TRIGGER|VIEW)\b|\bALTER\s+TABLE\b|^\s*PRAGMA\b"
)
# sqlite-utils / sqlite3 calls that reach the database without a SQL string.
_DB_ATTRS = {"db", "conn"}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _outside_store(path: Path) -> bool:
    return path.relative_to(SRC).parts[0] != "store"


def _name(path: Path) -> str:
    return str(path.relative_to(SRC)) if path.is_relative_to(SRC) else path.name


def sql_findings(path: Path) -> list[str]:
    """SQL string constants and raw database handles (`x.db`, `x.conn`) in one module."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL.search(node.value):
            out.append(f"{_name(path)}:{node.lineno}: SQL {node.value.strip()[:50]!r}")
        elif isinstance(node, ast.Attribute) and node.attr in _DB_ATTRS and isinstance(node.ctx, ast.Load):
            out.append(f"{_name(path)}:{node.lineno}: database handle .{node.attr}")
    return out


def test_the_sql_detector_finds_sql(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text('q = f"SELECT id FROM papers WHERE x = {1}"\nw = "INSERT OR IGNORE INTO t VALUES (1)"\n'
                      'n = "Select and propose, then update the row"\nstore.db.execute(q)\n', encoding="utf-8")
    found = sorted(sql_findings(sample))
    assert found == ["m.py:1: SQL 'SELECT id FROM papers WHERE x ='", "m.py:2: SQL 'INSERT OR IGNORE INTO t VALUES (1)'",
                     "m.py:4: database handle .db"]


def test_sql_only_in_the_store_package() -> None:
    found = [f for p in _modules() if _outside_store(p) for f in sql_findings(p)]
    assert found == [], "SQL belongs in lfmwatch.store (add a named function there):\n" + "\n".join(found)
