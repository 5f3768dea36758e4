"""Import papers from a JSONL(.gz) corpus: streamed, batched, bad lines counted and reported, never fatal."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lfmwatch.errors import InputError
from lfmwatch.store.papers import RecordError, count_papers, paper_from_record, upsert_papers
from lfmwatch.store.runs import RunRecord, recorded_run

if TYPE_CHECKING:
    from lfmwatch.store.db import Store

BATCH = 2000
MAX_BAD_KEPT = 100  # line numbers kept for the report; the count is always exact
BULK_MIN_PAPERS = 5000  # imports at least this big (estimated) load without per-row FTS triggers

Progress = Callable[[int, int], None]  # (bytes of the file consumed, file size)


@dataclass
class ImportResult:
    """What an import did; `bad_lines` holds (line number, reason) for the first MAX_BAD_KEPT bad lines."""

    path: str
    read: int = 0
    new: int = 0
    updated: int = 0
    bad: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    run_id: int | None = None

    def line(self) -> str:
        """One-line report."""
        text = f"read {self.read}, new {self.new}, updated {self.updated}, bad {self.bad}"
        if self.bad:
            text += " (lines " + ", ".join(str(n) for n, _ in self.bad_lines[:10])
            text += ", ...)" if self.bad > 10 else ")"
        if self.read and not self.new and not self.updated:
            text += "; nothing new: every paper was already stored, unchanged"
        return text


def _open(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(raw file for progress, stream of decompressed bytes)."""
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw, raw


def _bulk(store: Store, path: Path, size: int, gz: bool) -> bool:
    """Defer the FTS index when the file dwarfs the store: per-row FTS inserts cost ~3x a rebuild per paper,
    but the rebuild covers the whole store, so a re-import or a small file keeps the triggers."""
    estimated = size / (500 if gz else 1200)  # bytes per corpus line, compressed or not
    return estimated >= BULK_MIN_PAPERS and estimated > 2 * count_papers(store)


def parse_line(line: bytes) -> dict[str, Any]:
    """One JSONL line to a paper dict; raises RecordError with the reason."""
    try:
        obj = json.loads(line)
    except UnicodeDecodeError as exc:
        raise RecordError("not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise RecordError(f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
    except RecursionError as exc:
        raise RecordError("invalid JSON (nested too deeply)") from exc
    if not isinstance(obj, dict):
        raise RecordError("a line must be a JSON object")
    return paper_from_record(obj)


def import_jsonl(store: Store, path: str | Path, progress: Progress | None = None) -> ImportResult:
    """Stream a JSONL(.gz) file of papers into the store in constant memory; records a `runs` row (kind import)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file", "give the path of a .jsonl or .jsonl.gz file of papers")
    result = ImportResult(path=str(path))
    size = path.stat().st_size
    with recorded_run(store, "import", reason=None, counts={"file": str(path)}) as run:
        result.run_id = run.id
        _import(store, path, size, result, run, progress)
    return result


def _import(store: Store, path: Path, size: int, result: ImportResult, run: RunRecord,
            progress: Progress | None) -> None:
    raw, stream = _open(path)
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        new, updated = upsert_papers(store, batch, "import")
        result.new += new
        result.updated += updated
        batch.clear()
        if progress is not None:
            progress(raw.tell(), size)

    fts = store.defer_fts() if _bulk(store, path, size, stream is not raw) else nullcontext()
    lineno = 0
    try:
        with fts, raw, stream:
            for lineno, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                result.read += 1
                try:
                    batch.append(parse_line(line))
                except RecordError as exc:
                    result.bad += 1
                    if len(result.bad_lines) < MAX_BAD_KEPT:
                        result.bad_lines.append((lineno, str(exc)))
                    continue
                if len(batch) >= BATCH:
                    flush()
            flush()
    except (OSError, EOFError, zlib.error) as exc:
        flush_error = None
        try:
            flush()  # keep every good line read before the damage
        except Exception as inner:  # pragma: no cover - the store failing too
            flush_error = inner
        _finish(run, result, "failed", f"{exc.__class__.__name__}: {exc}")
        raise InputError(
            f"{path}: the file is damaged after line {lineno} ({exc}); "
            f"the {result.new + result.updated} papers before it were stored",
            "fix or re-download the file and import it again (already stored papers are skipped)",
        ) from (flush_error or exc)
    except BaseException as exc:
        _finish(run, result, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", repr(exc))
        raise
    _finish(run, result, "ok", None)


def _finish(run: RunRecord, result: ImportResult, status: str, error: str | None) -> None:
    run.finish(
        status, fetched=result.read, new=result.new, updated=result.updated, error=error,
        counts={"file": result.path, "read": result.read, "bad": result.bad,
                "bad_lines": [n for n, _ in result.bad_lines[:20]]},
        reason="nothing new" if status == "ok" and not (result.new or result.updated) else None,
    )
