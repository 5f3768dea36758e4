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


# --- imports ----------------------------------------------------------------------------------------------

#: The pure core: text, arrays and records in, text, arrays and records out. No store, network, files or clock IO.
PURE = ("lfmwatch.awesome", "lfmwatch.model.classifier", "lfmwatch.model.features", "lfmwatch.model.thresholds",
        "lfmwatch.model.fit", "lfmwatch.model.evaluate", "lfmwatch.model.gate", "lfmwatch.model.examples",
        "lfmwatch.ids", "lfmwatch.records", "lfmwatch.textsafe", "lfmwatch.select", "lfmwatch.errors")
#: What the pure core must not import: the parts that do IO, the model's own IO modules, and IO libraries.
IMPURE = ("lfmwatch.store", "lfmwatch.adapters", "lfmwatch.ingest", "lfmwatch.pr", "lfmwatch.digest", "lfmwatch.run",
          "lfmwatch.cli", "lfmwatch.backtest", "lfmwatch.config", "lfmwatch.model.io", "lfmwatch.model.readers",
          "lfmwatch.model.bundle", "sqlite_utils", "sqlite3", "requests", "github", "arxiv", "openai", "smtplib",
          "socket", "urllib", "http", "aiosmtpd", "apscheduler")


def module_name(path: Path) -> str:
    """Dotted module name of a source file (a package's __init__ is the package)."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path, known: set[str]) -> set[str]:
    """Modules a source file imports when it runs: module level and inside functions, not under TYPE_CHECKING.

    `from pkg import name` counts as importing `pkg.name` when that is a module of ours, else `pkg`."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                out.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(up + ([child.module] if child.module else []))
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    out.add(full if full in known else base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    out.discard(me)
    return out


def import_graph() -> dict[str, set[str]]:
    """Our modules -> the modules of ours each imports at run time."""
    files = {module_name(p): p for p in _modules()}
    known = set(files)
    return {m: {i for i in runtime_imports(p, known) if i in known} for m, p in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules() -> None:
    assert cycles(import_graph()) == []


def test_no_import_cycles_between_packages() -> None:
    parts: dict[str, set[str]] = {}
    for m, deps in import_graph().items():
        parts.setdefault(_part(m), set()).update(_part(d) for d in deps if _part(d) != _part(m))
    assert cycles(parts) == []


def test_the_pure_core_does_no_io() -> None:
    files = {module_name(p): p for p in _modules()}
    bad = []
    for m, p in files.items():
        if not m.startswith(PURE):
            continue
        for i in sorted(runtime_imports(p, set(files))):
            if any(i == x or i.startswith(x + ".") for x in IMPURE):
                bad.append(f"{m} imports {i}")
    assert bad == []


MAX_LINES = 500  # a module over this owns too much: split it by what it owns


def test_no_module_is_over_500_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in _modules() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules by what they own: {long}"
