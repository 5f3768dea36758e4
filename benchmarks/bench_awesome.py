"""Parse + insert time of the awesome-list engine on the real LFM README, against markdown-it alone.

Run: /work/venv/bin/python benchmarks/bench_awesome.py [--readme PATH] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from markdown_it import MarkdownIt

from lfmwatch.awesome import NewEntry, insert_entries, parse_list

DEFAULT_README = Path(__file__).resolve().parents[2] / "shared" / "data" / "awesome-lfm" / "README.md"
EXCLUDE = ["Table of Contents", "Citation", "Papers"]


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    """Print median timings and ratios; exit 1 when the README is missing."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--readme", type=Path, default=DEFAULT_README)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    if not args.readme.is_file():
        print(f"README not found: {args.readme} (pass --readme PATH)", file=sys.stderr)
        return 1
    with open(args.readme, encoding="utf-8", newline="") as fh:
        text = fh.read()
    lst = parse_list(text, EXCLUDE)
    one = [NewEntry(lst.paper_sections()[-1], "2601.00001", "A benchmark paper")]
    every = [NewEntry(p, f"2601.{i:05d}", f"Benchmark paper {i}") for i, p in enumerate(lst.paper_sections())]
    baseline_md = MarkdownIt("commonmark")
    parse_list(text, EXCLUDE)  # warm caches (the markdown-it instance is built on first use)

    base = _median_ms(lambda: baseline_md.parse(text), args.runs)
    parse = _median_ms(lambda: parse_list(text, EXCLUDE), args.runs)
    parse_slow = _median_ms(lambda: parse_list(text, EXCLUDE, fast=False), args.runs)
    insert1 = _median_ms(lambda: insert_entries(text, one, EXCLUDE), args.runs)
    insert_all = _median_ms(lambda: insert_entries(text, every, EXCLUDE), max(3, args.runs // 3))

    print(f"README: {args.readme} ({len(text.splitlines())} lines, {len(lst.entries)} entries, "
          f"{len(lst.sections)} sections); median of {args.runs} runs")
    print(f"markdown-it parse alone (baseline) : {base:8.2f} ms")
    print(f"parse_list                         : {parse:8.2f} ms  ({parse / base:.2f}x baseline)")
    print(f"parse_list, inline parser for all  : {parse_slow:8.2f} ms  ({parse_slow / base:.2f}x baseline)")
    print(f"insert_entries, 1 entry            : {insert1:8.2f} ms  ({insert1 / base:.2f}x baseline)")
    print(f"insert_entries, 1 per section ({len(every):2d}) : {insert_all:8.2f} ms  ({insert_all / base:.2f}x baseline)")
    print(f"reproduce: {sys.executable} benchmarks/bench_awesome.py --readme {args.readme} --runs {args.runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
