"""Applying a model: to the store's unclassified papers, or to a JSONL file of papers (no store)."""

from __future__ import annotations

import json
import os
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lfmwatch.errors import InputError

if TYPE_CHECKING:
    from lfmwatch.model.classifier import LfmModel
    from lfmwatch.store.db import Store

PREDICTION_FIELDS = ("relevant", "score", "section", "section_score", "sections", "why")


def classify_store(store: Store, model: LfmModel, *, threshold: float | None = None, batch: int = 2000) -> dict[str, Any]:
    """Predict every paper that has no prediction for `model.version`; returns counts (classified, relevant)."""
    from lfmwatch.store.predictions import save_predictions, unclassified

    # Read all pending ids first: inserting while a SELECT cursor is open on the same table is fragile.
    pending = unclassified(store, model.version)
    classified = relevant = 0
    for start in range(0, len(pending), batch):
        rows = pending[start : start + batch]
        papers = [{"id": pid, "title": title, "abstract": abstract} for pid, title, abstract in rows]
        preds = model.predict(papers, threshold=threshold)
        relevant += save_predictions(store, model.version, [p["id"] for p in papers], preds)
        classified += len(papers)
    return {"classified": classified, "relevant": relevant, "model_version": model.version}


def _read_lines(src: IO[str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, error or None) per non-blank line."""
    for n, line in enumerate(src, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            yield n, None, f"not JSON ({getattr(exc, 'msg', exc)})"
            continue
        except RecursionError:
            yield n, None, "not JSON (nested too deeply)"
            continue
        if not isinstance(obj, dict):
            yield n, None, "not a JSON object"
            continue
        missing = [k for k in ("id", "title", "abstract") if not isinstance(obj.get(k), str) or not obj[k].strip()]
        if missing:
            yield n, None, f"missing or empty {', '.join(missing)}"
            continue
        yield n, obj, None


def classify_jsonl(
    model: LfmModel, src_path: str | Path, dst: str | Path | IO[str] | None, *, threshold: float | None = None,
    batch: int = 5000,
) -> tuple[int, list[tuple[int, str]]]:
    """Write each valid input object plus the prediction fields to `dst` (path, stream or None = stdout).

    Returns (papers written, [(line number, problem)] for lines that were skipped). `.gz` input is read too.
    """
    import gzip

    src = Path(src_path)
    if not src.exists():
        raise InputError(f"{src}: input file not found", "check the --input path")
    bad: list[tuple[int, str]] = []
    written = 0
    opener = gzip.open if src.suffix == ".gz" else open
    close_out = False
    tmp: Path | None = None
    if dst is None:
        out: IO[str] = sys.stdout
    elif isinstance(dst, str | Path):
        # Written to a temporary file renamed over `dst` at the end: a failure never leaves a partial output.
        tmp = Path(dst).with_name(f".{Path(dst).name}.{os.getpid()}.tmp")
        try:
            out = open(tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"{dst}: cannot write: {exc.strerror or exc}", "check the --output path") from exc
        close_out = True
    else:
        out = dst
    ok = False
    try:
        with opener(src, "rt", encoding="utf-8", errors="replace") as fh:
            chunk: list[dict[str, Any]] = []
            for n, obj, err in _read_lines(fh):
                if err is not None:
                    bad.append((n, err))
                    continue
                assert obj is not None
                chunk.append(obj)
                if len(chunk) >= batch:
                    written += _write(model, chunk, out, threshold)
                    chunk = []
            if chunk:
                written += _write(model, chunk, out, threshold)
        ok = True
    except (OSError, EOFError, zlib.error) as exc:
        what = "the compressed file is truncated or damaged" if isinstance(exc, EOFError | zlib.error) else exc
        raise InputError(f"{src}: cannot read: {what}",
                         "check the file is JSONL (gzip-compressed when it ends in .gz); no output was written") from exc
    finally:
        if close_out:
            out.close()
            if tmp is not None:
                if ok:
                    os.replace(tmp, dst)  # type: ignore[arg-type]
                else:
                    tmp.unlink(missing_ok=True)
    return written, bad


def _write(model: LfmModel, papers: list[dict[str, Any]], out: IO[str], threshold: float | None) -> int:
    preds = model.predict(papers, threshold=threshold)
    lines = []
    for paper, pred in zip(papers, preds, strict=True):
        row = {k: v for k, v in paper.items() if k not in PREDICTION_FIELDS}
        row.update(pred)
        lines.append(json.dumps(row, ensure_ascii=False))
    out.write("\n".join(lines) + "\n")
    return len(lines)
