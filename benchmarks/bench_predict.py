"""Speed of `LfmModel.predict` on one core, against scikit-learn's TfidfVectorizer in the same process.

    /work/venv/bin/python benchmarks/bench_predict.py [--data ../shared/data] [--model models/lfm-model.npz] [--n 20000]

Reads the first N corpus papers with an abstract (and the next N to fit the baseline's vocabulary), then times, as
CPU seconds of this process (`time.process_time`: the one-core figure on a shared machine), best of --repeat runs:
- lfmwatch: the whole `predict` (tokenise, hash, sparse matrix, all products, calibration, sections, `why`, the
  output dicts), and its stages;
- baseline: `TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english", min_df=2)`
  `.transform` + a sparse product with a weight matrix of as many columns as the model has (relevance stages,
  areas, leaves): features and scores only, no sections, no `why`, no output rows.
Prints papers per CPU second for each and the ratio.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: no threaded BLAS anywhere

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def read_papers(path: Path, n: int) -> list[dict[str, Any]]:
    """The first n papers of the corpus that have a title and an abstract."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            p = json.loads(line)
            if p.get("title") and p.get("abstract"):
                out.append({"id": p["id"], "title": p["title"], "abstract": p["abstract"]})
                if len(out) >= n:
                    break
    return out


def best_cpu(fn: Any, repeat: int) -> float:
    """Smallest CPU time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        times.append(time.process_time() - c0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    ap.add_argument("--model", type=Path, default=root / "models" / "lfm-model.npz")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    corpus = args.data / "arxiv-corpus.jsonl.gz"
    if not corpus.exists():
        sys.exit(f"{corpus}: shared data not found")
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from lfmwatch.model.classifier import _raw_at
    from lfmwatch.model.io import load_model

    both = read_papers(corpus, 2 * args.n)
    papers, fit_docs = both[: args.n], both[args.n :]
    t0 = time.perf_counter()
    model = load_model(args.model)
    load_s = time.perf_counter() - t0
    model.predict(papers[:100])  # warm-up: the `why` tables are built on first use
    n = len(papers)

    res: dict[str, Any] = {"papers": n, "model": str(args.model), "load_seconds": round(load_s, 3)}
    cpu = best_cpu(lambda: model.predict(papers), args.repeat)
    res["predict_papers_per_cpu_second"] = round(n / cpu)
    # Stages, for where the time goes.
    X = model.vocab.transform(papers)
    stages = {"transform": lambda: model.vocab.transform(papers),
              "scores+sections": lambda: (model.raw_scores(X), model.section_probs(X))}
    raw = model.raw_scores(X)
    score = model.calibrate(raw)
    pos = raw >= _raw_at(model, model.threshold)
    stages["why"] = lambda: model._why(X, pos, pos | (score >= model.threshold / 2), papers)
    res["stage_cpu_seconds"] = {k: round(best_cpu(f, args.repeat), 3) for k, f in stages.items()}

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english", min_df=2)
    vec.fit([f"{p['title']} {p['abstract']}" for p in fit_docs])
    k = model.rel_coef.shape[1] + model.area_coef.shape[1] + model.leaf_coef.shape[1]
    W = np.random.default_rng(0).standard_normal((len(vec.vocabulary_), k)).astype(np.float32)

    def baseline() -> None:
        Xb = vec.transform([f"{p['title']} {p['abstract']}" for p in papers])
        np.asarray(Xb @ W)

    cpu_b = best_cpu(baseline, args.repeat)
    res["baseline_tfidf_transform_dot_papers_per_cpu_second"] = round(n / cpu_b)
    res["baseline_columns"] = len(vec.vocabulary_)
    res["speedup_vs_baseline"] = round(cpu_b / cpu, 2)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
