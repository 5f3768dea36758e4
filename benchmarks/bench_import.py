"""Benchmark `import_jsonl` on the shared corpus: papers/s, peak memory, ratio to plain JSON parsing of the file.

    /work/venv/bin/python benchmarks/bench_import.py [--corpus PATH] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-corpus.jsonl.gz"


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(path: Path) -> tuple[int, float]:
    """Plain gzip + json.loads of every line: the floor any importer pays."""
    t0 = time.perf_counter()
    n = 0
    with gzip.open(path, "rb") as f:
        for line in f:
            if line.strip():
                json.loads(line)
                n += 1
    return n, time.perf_counter() - t0


def main() -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--tracemalloc", action="store_true", help="also measure Python heap peak (slower)")
    ap.add_argument("--triggers", action="store_true",
                    help="also time an import that keeps the per-row FTS triggers (no bulk mode)")
    args = ap.parse_args()
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 1
    from lfmwatch.ingest.importer import import_jsonl
    from lfmwatch.store.db import Store

    n, base_s = baseline(args.corpus)
    print(f"baseline json parse : {n} lines in {base_s:.2f} s ({n / base_s:,.0f} lines/s), peak RSS {rss_mb():.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "state.db"
        with Store(db) as store:
            if args.tracemalloc:
                tracemalloc.start()
            t0 = time.perf_counter()
            result = import_jsonl(store, args.corpus)
            first_s = time.perf_counter() - t0
            heap = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
            tracemalloc.stop()
            print(f"import (empty store): {result.line()}")
            print(f"  {first_s:.2f} s = {result.read / first_s:,.0f} papers/s, {first_s / base_s:.1f}x baseline, "
                  f"peak RSS {rss_mb():.0f} MB" + (f", Python heap peak {heap:.1f} MB" if heap else ""))
            t0 = time.perf_counter()
            again = import_jsonl(store, args.corpus)
            second_s = time.perf_counter() - t0
            print(f"re-import (no change): {again.line()}")
            print(f"  {second_s:.2f} s = {again.read / second_s:,.0f} papers/s, {second_s / base_s:.1f}x baseline")
        print(f"store size: {db.stat().st_size / 2**20:.0f} MB")
        if args.triggers:
            import lfmwatch.ingest.importer as importer

            importer.BULK_MIN_PAPERS = 10**12
            with Store(Path(tmp) / "triggers.db") as store:
                t0 = time.perf_counter()
                result = import_jsonl(store, args.corpus)
                s = time.perf_counter() - t0
            print(f"import with per-row FTS triggers: {s:.2f} s = {result.read / s:,.0f} papers/s, "
                  f"{s / base_s:.1f}x baseline")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
