"""Benchmark `poll`: 30 days at ~1,500 papers/day from the loopback emulator (in another process), delay 0.

Reports wall time, requests made, and the split between HTTP (incl. the emulator's own work), XML parsing
(lxml + arxiv.Result building), Result->dict conversion and store writes.

    /work/venv/bin/python benchmarks/bench_poll.py [--days 30] [--per-day 1500] [--page-size 200]

`--daily` measures instead what the daily run's poll costs with arXiv's 3 s delay kept: the store already holds the
days before, its watermark is yesterday 06:17, and the catch-up (overlap included) is timed with the old settings
(page_size 200, window_days 1) and the current ones (page_size 2000, window_days 7):

    python benchmarks/bench_poll.py --daily [--per-day 1500] [--delay 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

WORDS = ("model merging weight interpolation knowledge distillation adapter prompt tuning retrieval augmented "
         "generation editing meta learning transformer language vision diffusion benchmark evaluation robust "
         "efficient sparse low rank fine tuning pretrained foundation large scale reasoning alignment").split()
IN_SCOPE = ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"]
OUT_SCOPE = ["math.AP", "eess.AS", "cs.RO", "hep-th", "q-bio.NC"]


def make_papers(start: date, days: int, per_day: int, seed: int = 7) -> list[dict]:
    """Synthetic papers with realistic sizes: ~12-word titles, ~170-word abstracts, 5 authors."""
    rng = random.Random(seed)
    out = []
    for d in range(days):
        day = start + timedelta(days=d)
        for i in range(per_day):
            cats = [rng.choice(IN_SCOPE if rng.random() < 0.85 else OUT_SCOPE)]
            if rng.random() < 0.4:
                cats.append(rng.choice(IN_SCOPE))
            minute = rng.randrange(1440)
            out.append({
                "id": f"{day:%y%m}.{d * per_day + i:05d}",
                "title": " ".join(rng.choices(WORDS, k=12)).capitalize(),
                "abstract": " ".join(rng.choices(WORDS, k=170)),
                "authors": [f"Author {rng.randrange(10**6)}" for _ in range(5)],
                "categories": list(dict.fromkeys(cats)),
                "comment": "12 pages, 4 figures" if rng.random() < 0.5 else None,
                "published": datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=UTC),
            })
    return out


def serve(papers_args: tuple, conn: mp.connection.Connection) -> None:
    """Child process: run the emulator until told to stop; report its URL."""
    from fakes.arxiv_emulator import ArxivEmulator

    with ArxivEmulator(make_papers(*papers_args)) as emu:
        conn.send(emu.url)
        conn.recv()
        conn.send(len(emu.query_requests))


def daily(per_day: int, delay: float) -> int:
    """One day's catch-up poll with the polite delay, old settings against new (see the module docstring)."""
    from lfmwatch.adapters.arxiv import ArxivSource
    from lfmwatch.config import Config
    from lfmwatch.ingest.poll import WATERMARK_KEY, poll
    from lfmwatch.store.db import Store

    today = datetime.now(UTC).date()
    start = today - timedelta(days=6)
    parent, child = mp.Pipe()
    proc = mp.Process(target=serve, args=((start, 6, per_day), child), daemon=True)
    proc.start()
    url = parent.recv()
    try:
        for page_size, window_days in ((200, 1), (2000, 7)):
            config = Config()
            config.arxiv.page_size, config.arxiv.window_days, config.arxiv.delay_seconds = page_size, window_days, delay
            with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "state.db") as store:
                setup = ArxivSource(url, delay_seconds=0, page_size=2000, timeout=60)
                poll(store, config, setup, since=start, until=today - timedelta(days=2))
                store.set_state(WATERMARK_KEY, f"{today - timedelta(days=1):%Y-%m-%d}T06:17")
                source = ArxivSource(url, delay_seconds=delay, page_size=page_size, timeout=60)
                t0 = time.perf_counter()
                result = poll(store, config, source)
                wall = time.perf_counter() - t0
                print(f"page_size {page_size}, window_days {window_days}, delay {delay:g} s: {result.line()}")
                print(f"  wall {wall:.1f} s, {source.stats.requests} requests, HTTP+server {source.stats.http_seconds:.1f} s, "
                      f"store writes {result.store_seconds:.1f} s")
    finally:
        parent.send("stop")
        parent.recv()
        proc.join(5)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


def main() -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-day", type=int, default=1500)
    ap.add_argument("--page-size", type=int, default=200)
    ap.add_argument("--daily", action="store_true", help="time one daily catch-up with the delay kept")
    ap.add_argument("--delay", type=float, default=3.0)
    args = ap.parse_args()
    if args.daily:
        return daily(args.per_day, args.delay)
    from lfmwatch.adapters.arxiv import ArxivSource
    from lfmwatch.config import Config
    from lfmwatch.ingest.poll import poll
    from lfmwatch.store.db import Store

    start = date(2025, 6, 1)
    parent, child = mp.Pipe()
    proc = mp.Process(target=serve, args=((start, args.days, args.per_day), child), daemon=True)
    t_setup = time.perf_counter()
    proc.start()
    url = parent.recv()
    print(f"emulator: {args.days} days x {args.per_day} papers ready in {time.perf_counter() - t_setup:.1f} s at {url}")
    config = Config()
    config.arxiv.delay_seconds = 0
    config.arxiv.page_size = args.page_size
    try:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "state.db") as store:
            for label in ("first poll", "re-poll"):
                source = ArxivSource(url, delay_seconds=0, page_size=args.page_size, timeout=60, backoff=0.5)
                t0 = time.perf_counter()
                result = poll(store, config, source, since=start, until=start + timedelta(days=args.days - 1))
                wall = time.perf_counter() - t0
                st = source.stats
                other = wall - st.http_seconds - st.parse_seconds - st.convert_seconds - result.store_seconds
                print(f"{label}: {result.line()}")
                print(f"  wall {wall:.2f} s, {st.requests} requests ({st.retries} retries), "
                      f"{result.fetched / wall:,.0f} papers/s")
                print(f"  HTTP+server {st.http_seconds:.2f} s | XML parse {st.parse_seconds:.2f} s | "
                      f"Result->dict {st.convert_seconds:.2f} s | store writes {result.store_seconds:.2f} s | "
                      f"other {other:.2f} s")
    finally:
        parent.send("stop")
        served = parent.recv()
        proc.join(5)
    print(f"emulator answered {served} requests; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
