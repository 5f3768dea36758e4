"""Benchmark of `lfmwatch backtest`: six months of the shared corpus replayed through classify -> select.

Prints wall time and peak memory of each phase, each measured in a fresh process so peaks do not mix:
  load      read the corpus (configured categories) and split it into days
  predict   raw `model.predict` of every replayed paper in one call (the reference the replay is compared with)
  replay    the pure replay at the chosen budget (batched prediction + selection day by day with dedupe)
  store     lfmwatch's headline replay: a fresh temporary state.db, store + classify_store + select each day
  curve     the 20 extra selections per day of the precision/recall-against-budget curve
  baselines keyword matching and tf-idf + LinearSVC replays, training included
Training the lfmwatch model (--train-until) is excluded, as the issue asks; it runs once first when no --model
is given. Usage:
  python benchmarks/bench_backtest.py [--corpus F] [--labels F] [--model PATH] [--from D] [--to D] [--per-day K]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _rss_mb() -> float:
    # VmHWM is this process's own peak; ru_maxrss can carry the parent's peak over fork + exec on Linux.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(args: argparse.Namespace) -> dict[str, float]:
    """Run one phase in this process and return its figures."""
    from lfmwatch.awesome import parse_list
    from lfmwatch.backtest import baselines as bl
    from lfmwatch.backtest import replay as bt
    from lfmwatch.backtest.runner import run_system
    from lfmwatch.config import Config
    from lfmwatch.model.io import load_model

    config = Config()
    t0 = time.perf_counter()
    papers, _ = bl.load_corpus(args.corpus, config.arxiv.categories, args.to)
    days = bt.split_days(papers, args.start, args.end)
    del papers
    out: dict[str, float] = {"papers": sum(len(p) for _, p in days), "days": len(days),
                             "load_s": time.perf_counter() - t0}
    if args.phase == "load":
        return {**out, "peak_rss_mb": _rss_mb()}
    model = load_model(args.model)
    labels = bl.load_labels(args.labels)
    lst = parse_list(bt.sections_markdown(set(model.sections) | {r.section for v in labels.values() for r in v}))
    select = bt.make_selector(lst, 0.0)
    truth = bt.Truth.build(labels, days)
    flat = [p for _, ps in days for p in ps]
    t0 = time.perf_counter()
    if args.phase == "predict":
        model.predict(flat)
        out["predict_s"] = time.perf_counter() - t0
    elif args.phase in ("replay", "curve"):
        cands = bt.predict_days(model, days)
        props = bt.select_days(days, cands, select, args.per_day)
        out["replay_s"] = time.perf_counter() - t0
        out["proposals"] = len(props)
        if args.phase == "curve":
            t1 = time.perf_counter()
            bt.budget_curve(days, cands, select, truth)
            out["curve_s"] = time.perf_counter() - t1
    elif args.phase == "store":
        from lfmwatch.backtest.store_replay import replay_store

        props, _, _ = replay_store(days, model, lst, config, args.per_day)
        out["store_s"] = time.perf_counter() - t0
        out["proposals"] = len(props)
    elif args.phase == "baselines":
        until = bt.day_before(args.start)
        all_papers, _ = bl.load_corpus(args.corpus, config.arxiv.categories, until)
        texts = {pid: {"title": rows[0].title, "abstract": rows[0].abstract} for pid, rows in labels.items()}
        pos = bl.list_positives(labels, texts, until, config.target.repo)
        neg = bl.negatives_until(all_papers, until, labels)[:20000]
        del all_papers
        for name, ranker in (("keywords", bl.keyword_baseline()), ("svm", bl.fit_svm_baseline(pos, neg))):
            t1 = time.perf_counter()
            run_system(name, ranker, days, select, truth, args.per_day)
            out[f"{name}_s"] = time.perf_counter() - t1
        out["baselines_s"] = time.perf_counter() - t0
    return {**out, "peak_rss_mb": _rss_mb()}


def train(args: argparse.Namespace, path: Path) -> float:
    """Train an lfmwatch model on data known before --from (not measured against the budget)."""
    from lfmwatch.backtest import baselines as bl
    from lfmwatch.backtest import replay as bt
    from lfmwatch.config import Config
    from lfmwatch.model.fit import fit_model
    from lfmwatch.model.io import save_model

    t0 = time.perf_counter()
    until = bt.day_before(args.start)
    papers, _ = bl.load_corpus(args.corpus, Config().arxiv.categories, until)
    rows, _ = bl.model_examples(args.labels, bl.load_labels(args.labels), papers, until)
    save_model(fit_model(rows), path)
    return time.perf_counter() - t0


def main() -> None:
    """Run every phase in a child process and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(SHARED / "arxiv-corpus.jsonl.gz"))
    ap.add_argument("--labels", default=str(SHARED / "lfm-labels.jsonl"))
    ap.add_argument("--model", default=None, help="model file (default: train one on data before --from)")
    ap.add_argument("--from", dest="start", default="2025-04-01")
    ap.add_argument("--to", dest="end", default="2025-09-30")
    ap.add_argument("--per-day", type=int, default=10)
    ap.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.to = args.end
    if args.phase:
        print(json.dumps(phase(args)))
        return
    if not Path(args.corpus).exists():
        sys.exit(f"{args.corpus}: corpus not found (the shared data is needed for this benchmark)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is None:
            args.model = str(Path(tmp) / "model.npz")
            print(f"training a model on data before {args.start} (not part of the measured replay)...", flush=True)
            print(f"  trained in {train(args, Path(args.model)):.1f} s", flush=True)
        figures: dict[str, float] = {}
        for name in ("load", "predict", "replay", "store", "curve", "baselines"):
            cmd = [sys.executable, __file__, "--phase", name, "--corpus", args.corpus, "--labels", args.labels,
                   "--model", args.model, "--from", args.start, "--to", args.end, "--per-day", str(args.per_day)]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            figures.update({f"{name}.{k}": v for k, v in res.items()})
    n, days = figures["load.papers"], figures["load.days"]
    load, predict, replay = figures["load.load_s"], figures["predict.predict_s"], figures["replay.replay_s"]
    print(f"period {args.start}..{args.end}: {n:.0f} papers over {days:.0f} days, budget {args.per_day}/day")
    print(f"load corpus            {load:6.1f} s   peak RSS {figures['load.peak_rss_mb']:.0f} MB")
    print(f"raw model.predict      {predict:6.1f} s   ({n / predict:,.0f} papers/s; the reference)")
    print(f"replay (classify+select) {replay:4.1f} s   ratio to raw predict {replay / predict:.2f}x;"
          f" {figures['replay.proposals']:.0f} proposals")
    print(f"load + replay          {load + replay:6.1f} s   (target < 60 s) peak RSS {figures['replay.peak_rss_mb']:.0f} MB"
          " (target < 1024 MB)")
    store = figures["store.store_s"]
    print(f"store replay           {store:6.1f} s   (the daily run's path: state.db + classify_store + select;"
          f" {figures['store.proposals']:.0f} proposals)")
    print(f"load + store replay    {load + store:6.1f} s   (target < 60 s) peak RSS {figures['store.peak_rss_mb']:.0f} MB"
          " (target < 1024 MB)")
    print(f"budget curve K=1..20   {figures['curve.curve_s']:6.1f} s   extra, on the same predictions")
    print(f"baselines              {figures['baselines.baselines_s']:6.1f} s   (keywords {figures['baselines.keywords_s']:.1f} s,"
          f" tf-idf+SVM {figures['baselines.svm_s']:.1f} s replay; peak RSS {figures['baselines.peak_rss_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
