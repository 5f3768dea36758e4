"""Time-split benchmark of the lfmwatch classifier against the reference tf-idf baseline and the previous model.

    python benchmarks/bench_classifier.py [--data ../shared/data] [--no-baseline] [--no-previous] [--save PATH]

Train on everything listed before 2025-04-01 (plus labelled papers with no listing day; reviewed papers only
from before the split), test on corpus papers with an ML category listed 2025-04-01..2025-09-30. Prints
recall@5/day, recall@10/day, average precision, section accuracy (top-level for all labelled test papers, leaf
for `precision: leaf` rows), cross-validated section accuracy over all labelled papers, papers flagged per day at
the model's threshold, precision on the held-out reviewed papers (those listed from 2025-04-01 on), speed and
peak memory. Out of fold, all 1,000 reviewed papers are scored by relevance stages trained on everything else (five
folds over the reviews, all periods): precision at 0.6 recall and recall at 0.9 precision, overall, per round and
per area. The held-out reviewed papers are never trained on: they are the reviews of papers listed in the test
period (round 1 and round 2), and the figures on them are given for both rounds and for each. The previous model is
today's code with the options of the model before v2 (PREVIOUS_OPTIONS), trained on the same split in the same run;
so is the first v2 model (FIRST_V2_OPTIONS).
A summary table at the end puts every goal of issue 17 beside the reference and the previous model.
The parsed corpus is cached under /tmp (never in the repository).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

SPLIT, END = "2025-04-01", "2025-09-30"
ML = {"cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"}
CACHE = Path(os.environ.get("LFMWATCH_BENCH_CACHE", "/tmp/lfmwatch-bench-cache.pkl"))
#: FitOptions of the first v2 model (title roles and the balanced area model, not yet judged positives x3, balanced
#: leaves or the section title weight): shows what the second round of v2 changed.
FIRST_V2_OPTIONS: dict[str, Any] = {"judged_positive_weight": 1.0, "c_leaf": 10.0, "leaf_balanced": False,
                                    "section_title_weight": 1.0}
#: FitOptions of the model before classifier v2 (issue 17): the v2 additions switched off.
PREVIOUS_OPTIONS: dict[str, Any] = {**FIRST_V2_OPTIONS, "title_roles": False, "area_balanced": False}


def load_data(data: Path) -> dict[str, Any]:
    """Parsed corpus, labels, reviews, upstream abstracts and README; cached by file sizes and mtimes."""
    files = ["arxiv-corpus.jsonl.gz", "lfm-labels.jsonl", "lfm-reviewed.jsonl", "upstream-abstracts.jsonl",
             "awesome-lfm/README.md"]
    key = [(f, (data / f).stat().st_size, (data / f).stat().st_mtime) for f in files]
    if CACHE.exists():
        with open(CACHE, "rb") as fh:
            cached = pickle.load(fh)
        if cached.get("key") == key:
            return cached
    corpus = []
    with gzip.open(data / "arxiv-corpus.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            p = json.loads(line)
            corpus.append({k: p.get(k) for k in ("id", "title", "abstract", "categories", "listed")})
    read = lambda name: [json.loads(x) for x in open(data / name, encoding="utf-8") if x.strip()]  # noqa: E731
    out = {
        "key": key,
        "corpus": corpus,
        "labels": read("lfm-labels.jsonl"),
        "reviewed": read("lfm-reviewed.jsonl"),
        "upstream": read("upstream-abstracts.jsonl"),
        "readme": (data / "awesome-lfm/README.md").read_text(encoding="utf-8"),
    }
    with open(CACHE, "wb") as fh:
        pickle.dump(out, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def build_split(d: dict[str, Any], split: str = SPLIT, end: str = END) -> dict[str, Any]:
    """Training examples (listed before `split`) and the test set (split..end), without leakage."""
    from lfmwatch.config import Config
    from lfmwatch.model.examples import example, fill_texts, mark_stream, readme_entries

    corpus_by_id = {p["id"]: p for p in d["corpus"]}
    test = [p for p in d["corpus"] if split <= (p["listed"] or "") <= end and ML.intersection(p["categories"] or ())]
    test_ids = {p["id"] for p in test}
    # Every label or review whose paper is listed in the test period is test data, never training data.
    # A paper not in the corpus is test-period (future) data when its arXiv id is from the split month on.
    def in_test(pid: str) -> bool:
        p = corpus_by_id.get(pid)
        if p is not None:
            return (p["listed"] or "") >= split
        return pid[:4].isdigit() and pid[4:5] == "." and pid[:4] >= split[2:4] + split[5:7]

    config = Config()
    entries, sections = readme_entries(d["readme"], config.target.exclude_sections)
    ex = [example(pid, t, None, s, "list") for pid, s, t in entries if not in_test(pid)]
    for r in d["labels"]:
        if (r["listed"] or "") >= split or in_test(r["id"]):
            continue
        ex.append(example(r["id"], r["title"], r["abstract"], r["section"], "label_top" if r["precision"] == "top" else "label"))
    held_reviews = []
    for r in d["reviewed"]:
        if in_test(r["id"]):
            held_reviews.append(r)
            continue
        kind = "reviewed_pos" if r["include"] else "reviewed_neg"
        ex.append(example(r["id"], None, None, r["section"] if r["include"] else None, kind))
    labelled = {e.id for e in ex} | {r["id"] for r in d["labels"]} | {r["id"] for r in d["reviewed"]}
    known = dict(corpus_by_id)
    for u in d["upstream"]:
        if u.get("id") and u.get("abstract"):
            known.setdefault(u["id"], u)
    ex, counts = fill_texts(ex, known, None)
    # Labelled papers of the training stream (listed before the split, in the categories): the threshold's PU rule.
    ex = mark_stream(ex, {p["id"] for p in d["corpus"]
                          if (p["listed"] or "") < split and ML.intersection(p["categories"] or ())})
    negs = [
        example(p["id"], p["title"], p["abstract"], None, "negative")
        for p in d["corpus"]
        if (p["listed"] or "") < split and p["id"] not in labelled and ML.intersection(p["categories"] or ())
    ]
    label_rows = defaultdict(list)
    for r in d["labels"]:
        label_rows[r["id"]].append(r)
    test_pos = {pid: rows for pid, rows in label_rows.items() if pid in test_ids}
    return {"examples": ex + negs, "sections": sections, "test": test, "test_pos": test_pos,
            "held_reviews": held_reviews, "text_counts": counts, "n_neg": len(negs), "corpus_by_id": corpus_by_id}


def ranking_metrics(test: list[dict[str, Any]], scores: Any, positives: set[str]) -> dict[str, float]:
    """recall@5/day, recall@10/day and average precision of the labelled test papers."""
    import numpy as np
    from sklearn.metrics import average_precision_score

    by_day: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(test):
        by_day[p["listed"]].append(i)
    hits = {5: 0, 10: 0}
    for idx in by_day.values():
        order = sorted(idx, key=lambda i: -scores[i])
        for k in hits:
            hits[k] += sum(1 for i in order[:k] if test[i]["id"] in positives)
    y = np.array([p["id"] in positives for p in test])
    return {"recall@5/day": hits[5] / len(positives), "recall@10/day": hits[10] / len(positives),
            "AP": float(average_precision_score(y, scores)), "days": len(by_day)}


def section_accuracy(test_pos: dict[str, list[dict[str, Any]]], predicted: dict[str, str]) -> dict[str, float]:
    """Top-level accuracy over all labelled test papers, leaf accuracy over papers with a leaf-precision row."""
    top_ok = top_n = leaf_ok = leaf_n = 0
    for pid, rows in test_pos.items():
        pred = predicted[pid] or ""
        top_n += 1
        top_ok += any(pred.split(" > ")[0] == r["section"].split(" > ")[0] for r in rows)
        leaf_rows = [r for r in rows if r["precision"] == "leaf"]
        if leaf_rows:
            leaf_n += 1
            leaf_ok += any(pred == r["section"] for r in leaf_rows)
    return {"top-level": top_ok / max(top_n, 1), "leaf": leaf_ok / max(leaf_n, 1), "n_top": top_n, "n_leaf": leaf_n}


def reviewed_metrics(reviews: list[dict[str, Any]], scores: Any, threshold: float) -> dict[str, Any]:
    """On held-out reviewed papers: precision where recall of the includes first reaches 0.6 (ranked by score),
    precision and recall of the includes at the threshold, and that recall per area (of the reviewer's section)."""
    import numpy as np

    inc = np.array([bool(r["include"]) for r in reviews])
    out: dict[str, Any] = {"papers": len(reviews), "includes": int(inc.sum())}
    if not inc.any():
        return out
    _, hits, reach = _ranked_reach(inc, scores, 0.6)
    out["precision_at_recall_0.6"] = round(float(hits[reach] / (reach + 1)), 3)
    precise = np.flatnonzero(hits / np.arange(1, len(hits) + 1) >= 0.9)
    out["recall_at_precision_0.9"] = round(float(hits[precise.max()] / inc.sum()), 3) if len(precise) else 0.0
    flagged = np.asarray(scores) >= threshold
    out["flagged"] = int(flagged.sum())
    out["precision_at_threshold"] = round(float(inc[flagged].mean()), 3) if flagged.any() else None
    out["recall_at_threshold"] = round(float(inc[flagged].sum() / inc.sum()), 3)
    per_area: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r, f in zip(reviews, flagged.tolist(), strict=True):
        if r["include"]:
            cell = per_area[str(r["section"]).split(" > ")[0]]
            cell[0] += int(f)
            cell[1] += 1
    out["area_recall_at_threshold"] = {a: f"{k}/{n} = {k / n:.2f}" for a, (k, n) in sorted(per_area.items())}
    return out


def reviewed_by_round(reviews: list[dict[str, Any]], scores: Any, threshold: float) -> dict[str, Any]:
    """reviewed_metrics over all held-out reviews, then over each review round."""
    import numpy as np

    scores = np.asarray(scores)
    res = {"all": reviewed_metrics(reviews, scores, threshold)}
    for rnd in sorted({r.get("round") for r in reviews}, key=str):
        idx = [i for i, r in enumerate(reviews) if r.get("round") == rnd]
        res[f"round {rnd}"] = reviewed_metrics([reviews[i] for i in idx], scores[idx], threshold)
    return res


def run_model(split: dict[str, Any], save: Path | None, options: dict[str, Any] | None = None,
              speed: bool = True) -> dict[str, Any]:
    """Train lfmwatch's model on the split (default options, or these), evaluate it, measure speed."""
    import numpy as np

    from lfmwatch.model.evaluate import cross_validate_sections
    from lfmwatch.model.fit import FitOptions, fit_model
    from lfmwatch.model.io import load_model, save_model

    opts = FitOptions(**(options or {}))
    t0 = time.perf_counter()
    model = fit_model(split["examples"], sections=split["sections"], target_precision=0.9, options=opts,
                      command="benchmarks/bench_classifier.py")
    train_s = time.perf_counter() - t0
    res: dict[str, Any] = {"train_seconds": round(train_s, 1)}
    path = save or Path("/tmp/lfmwatch-bench-model.npz")
    save_model(model, path)
    t0 = time.perf_counter()
    model = load_model(path)
    res["load_seconds"] = round(time.perf_counter() - t0, 3)
    res["model_bytes"] = path.stat().st_size
    test = split["test"]
    model.predict(test[:100])  # warm-up: term list for `why`
    # CPU time of this process is the one-core figure (the machine is shared); wall time is printed too.
    t0, c0 = time.perf_counter(), time.process_time()
    preds = model.predict(test)
    res["predict_papers_per_cpu_second"] = round(len(test) / (time.process_time() - c0))
    res["predict_papers_per_wall_second"] = round(len(test) / (time.perf_counter() - t0))
    t0, c0 = time.perf_counter(), time.process_time()
    X = model.vocab.transform(test)
    raw = model.raw_scores(X)
    model.section_probs(X)
    res["scores_only_papers_per_cpu_second"] = round(len(test) / (time.process_time() - c0))
    if speed:
        res["cli_classify_1500_wall_seconds"] = cli_classify_seconds(test[:1500], path)
    scores = np.array([p["score"] for p in preds])
    # Ties in the calibrated score (isotonic steps) would make ranking arbitrary: rank by the raw score.
    res.update(ranking_metrics(test, raw, set(split["test_pos"])))
    res["AP_calibrated_score"] = ranking_metrics(test, scores, set(split["test_pos"]))["AP"]
    by_id = {p["id"]: pr for p, pr in zip(test, preds, strict=True)}
    res.update(section_accuracy(split["test_pos"], {pid: by_id[pid]["section"] for pid in split["test_pos"]}))
    days = {p["listed"] for p in test}
    res["flagged_per_day"] = sum(pr["relevant"] for pr in preds) / len(days)
    res["threshold"] = model.threshold
    res["labelled_test_flagged"] = sum(by_id[pid]["relevant"] for pid in split["test_pos"])
    # Held-out reviewed papers: precision of the relevant flag.
    rv_papers = [split["corpus_by_id"][r["id"]] for r in split["held_reviews"]]
    rv_scores = model.calibrate(model.raw_scores(model.vocab.transform(rv_papers)))
    # The precision/volume trade-off at other thresholds (model.threshold in lfmwatch.toml overrides).
    table = []
    for thr in sorted({round(model.threshold, 4), 0.95, 0.9, 0.85, 0.7, 0.5, 0.3}, reverse=True):
        fl = [r for r, sc in zip(split["held_reviews"], rv_scores, strict=True) if sc >= thr]
        table.append({"threshold": thr, "flagged_per_day": round(float((scores >= thr).sum()) / len(days), 2),
                      "labelled_test_recall": round(sum(by_id[pid]["score"] >= thr for pid in split["test_pos"])
                                                    / len(split["test_pos"]), 3),
                      "reviewed_flagged": len(fl),
                      "reviewed_precision": round(sum(r["include"] for r in fl) / max(len(fl), 1), 3)})
    res["threshold_table"] = table
    rv = [(r, model.predict([split["corpus_by_id"][r["id"]]])[0]) for r in split["held_reviews"]]
    flagged = [r for r, pr in rv if pr["relevant"]]
    res["reviewed_heldout"] = len(rv)
    res["reviewed_flagged"] = len(flagged)
    res["reviewed_precision"] = sum(r["include"] for r in flagged) / max(len(flagged), 1)
    res["reviewed_include_recall"] = sum(r["include"] for r in flagged) / max(sum(r["include"] for r in split["held_reviews"]), 1)
    res["reviewed_heldout_metrics"] = reviewed_by_round(split["held_reviews"], rv_scores, model.threshold)
    t0 = time.perf_counter()
    cv = cross_validate_sections(split["examples"], folds=5, options=opts)
    res["cv_section"] = {k: cv[k] for k in ("top_level_accuracy", "leaf_accuracy", "n_top", "n_leaf")}
    res["cv_seconds"] = round(time.perf_counter() - t0, 1)
    res["card_cv"] = model.card.get("cv_at_threshold")
    return res


def reviewed_out_of_fold(full: dict[str, Any], reviewed: list[dict[str, Any]],
                         options: dict[str, Any] | None = None, folds: int = 5) -> dict[str, Any]:
    """All 1,000 reviewed papers, each scored by lfmwatch's relevance stages trained on every other paper and review
    (all periods, no time split): precision at 0.6 recall, recall at 0.9 precision, and per area the recall of the
    includes at the score where 0.6 of all includes are reached."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from lfmwatch.model.classifier import combine_stages
    from lfmwatch.model.fit import FitOptions, fit_relevance, relevance_inputs

    opts = FitOptions(**(options or {}))
    reviews = [r for r in reviewed if r["id"] in full["corpus_by_id"]]
    inc = np.array([bool(r["include"]) for r in reviews])
    scores = np.zeros(len(reviews))
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for _, held in skf.split(np.zeros(len(reviews)), inc):
        held_ids = {reviews[i]["id"] for i in held}
        # The held-out papers are gone entirely (their review, and any label or list entry they also have).
        rel = relevance_inputs([e for e in full["examples"] if e.id not in held_ids], opts)
        coef, icpt, _, _ = fit_relevance(rel.X, rel.y, rel.w, opts, [p.id for p in rel.papers])
        X = rel.vocab.transform([full["corpus_by_id"][reviews[i]["id"]] for i in held])
        scores[held] = combine_stages(np.asarray(X @ (coef * rel.scale[:, None]), dtype=np.float64) + icpt)
    ranked, _, reach = _ranked_reach(inc, scores, 0.6)
    return reviewed_by_round(reviews, scores, float(ranked[reach]))


def reference_out_of_fold(full: dict[str, Any], reviewed: list[dict[str, Any]]) -> dict[str, Any]:
    """The reference never trains on reviews: trained once without the reviewed papers, it scores all of them."""
    reviews = [r for r in reviewed if r["id"] in full["corpus_by_id"]]
    ids = {r["id"] for r in reviews}
    vec, clf, _ = fit_reference([e for e in full["examples"] if e.id not in ids], sections=False)
    cb = full["corpus_by_id"]
    scores = clf.decision_function(vec.transform([f"{cb[r['id']]['title']} {cb[r['id']]['abstract']}"
                                                  for r in reviews]))
    inc = [bool(r["include"]) for r in reviews]
    ranked, _, reach = _ranked_reach(inc, scores, 0.6)
    return reviewed_by_round(reviews, scores, float(ranked[reach]))


def _ranked_reach(inc: Any, scores: Any, recall: float) -> tuple[Any, Any, int]:
    """(scores best first, cumulative includes down that ranking, where `recall` of the includes is first reached)."""
    import numpy as np

    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = np.cumsum(np.asarray(inc, dtype=bool)[order])
    return np.asarray(scores)[order], hits, int(np.flatnonzero(hits >= recall * hits[-1])[0])


def cli_classify_seconds(papers: list[dict[str, Any]], model_path: Path) -> float:
    """Wall time of `lfmwatch classify --input` (start-up + model load + 1,500 papers) in a fresh process."""
    import subprocess

    src, dst = Path("/tmp/lfmwatch-bench-1500.jsonl"), Path("/tmp/lfmwatch-bench-1500.out.jsonl")
    src.write_text("".join(json.dumps(p) + "\n" for p in papers), encoding="utf-8")
    exe = Path(sys.executable).with_name("lfmwatch")
    t0 = time.perf_counter()
    subprocess.run([str(exe), "classify", "--input", str(src), "--output", str(dst), "--model", str(model_path)],
                   check=True, capture_output=True)
    dt = time.perf_counter() - t0
    assert sum(1 for _ in dst.open()) == len(papers)
    return round(dt, 2)


def fit_reference(ex: list[Any], seed: int = 0, sections: bool = True) -> tuple[Any, Any, Any]:
    """(vectoriser, relevance classifier, section classifier or None) of the reference, trained on examples."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    pos = [e for e in ex if e.kind in ("list", "label", "label_top")]
    pos_ids = list(dict.fromkeys(e.id for e in pos))
    first = {}
    for e in pos:
        first.setdefault(e.id, e)
    negs = [e for e in ex if e.kind == "negative"]
    rng = np.random.default_rng(seed)
    negs = [negs[i] for i in rng.choice(len(negs), size=min(20000, len(negs)), replace=False)]
    text = lambda e: f"{e.title} {e.abstract}"  # noqa: E731
    docs = [text(first[i]) for i in pos_ids] + [text(e) for e in negs]
    y = np.array([1] * len(pos_ids) + [0] * len(negs))
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english", min_df=2)
    X = vec.fit_transform(docs)
    clf = LogisticRegression(C=4, class_weight="balanced", max_iter=1000).fit(X, y)
    sec_ex = [e for e in pos if e.section]
    svc = LinearSVC().fit(vec.transform([text(e) for e in sec_ex]), [e.section for e in sec_ex]) if sections else None
    return vec, clf, svc


def run_baseline(split: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """The reference: tf-idf 1-2-grams + LogisticRegression(C=4, balanced), LinearSVC sections, 20k negatives."""

    vec, clf, svc = fit_reference(split["examples"], seed)
    test = split["test"]
    Xt = vec.transform([f"{p['title']} {p['abstract']}" for p in test])
    scores = clf.decision_function(Xt)
    res = ranking_metrics(test, scores, set(split["test_pos"]))
    ids = [p["id"] for p in test]
    pos_idx = [ids.index(pid) for pid in split["test_pos"]]
    sec = svc.predict(Xt[pos_idx])
    res.update(section_accuracy(split["test_pos"], dict(zip(split["test_pos"], sec, strict=True))))
    days = {p["listed"] for p in test}
    res["flagged_per_day@0.5"] = float((clf.predict_proba(Xt)[:, 1] >= 0.5).sum() / len(days))
    rv_text = [f"{split['corpus_by_id'][r['id']]['title']} {split['corpus_by_id'][r['id']]['abstract']}"
               for r in split["held_reviews"]]
    res["reviewed_heldout_metrics"] = reviewed_by_round(split["held_reviews"],
                                                        clf.predict_proba(vec.transform(rv_text))[:, 1], 0.5)
    return res


GOALS = [  # (label, how to read it from a result, target)
    ("reviewed, out of fold (all 1,000): precision at 0.6 recall",
     lambda r: r["reviewed_oof"]["all"]["precision_at_recall_0.6"], ">= 0.9"),
    ("  round 1 / round 2", lambda r: "{} / {}".format(*[v.get("precision_at_recall_0.6") for k, v in
                                                          r["reviewed_oof"].items() if k != "all"]), ""),
    ("reviewed, out of fold: recall at 0.9 precision", lambda r: r["reviewed_oof"]["all"]["recall_at_precision_0.9"],
     ""),
    ("held-out reviewed: precision at 0.6 recall", lambda r: r["reviewed_heldout_metrics"]["all"]["precision_at_recall_0.6"], ">= 0.9"),
    ("  round 1 / round 2", lambda r: "{} / {}".format(*[v.get("precision_at_recall_0.6") for k, v in
                                                          r["reviewed_heldout_metrics"].items() if k != "all"]), ""),
    ("held-out reviewed at the threshold: precision", lambda r: r["reviewed_heldout_metrics"]["all"]["precision_at_threshold"], ""),
    ("held-out reviewed at the threshold: recall", lambda r: r["reviewed_heldout_metrics"]["all"]["recall_at_threshold"], ""),
    ("section, top level", lambda r: r["top-level"], ">= 0.93"),
    ("section, leaf", lambda r: r["leaf"], ">= 0.85"),
    ("recall@5/day", lambda r: r["recall@5/day"], ""),
    ("recall@10/day", lambda r: r["recall@10/day"], ">= 0.85"),
    ("average precision", lambda r: r["AP"], ">= 0.5"),
    ("flagged per day (threshold)", lambda r: r.get("flagged_per_day", r.get("flagged_per_day@0.5")), "3-8"),
]


def summary(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of the goals: one column per system, then the target."""
    def fmt(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    names = list(results)
    lines = ["| measure | " + " | ".join(names) + " | target |", "|---|" + "---|" * (len(names) + 1)]
    for label, get, target in GOALS:
        cells = []
        for n in names:
            try:
                cells.append(fmt(get(results[n])))
            except (KeyError, TypeError, IndexError):
                cells.append("")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    for key, what in (("reviewed_heldout_metrics", "held-out reviewed includes at the threshold"),
                      ("reviewed_oof", "reviewed includes out of fold, at 0.6 recall overall")):
        areas = sorted({a for r in results.values() for a in r.get(key, {}).get("all", {}).get(
            "area_recall_at_threshold", {})})
        for a in areas:
            lines.append(f"| recall of {what}: {a} | " + " | ".join(
                r.get(key, {}).get("all", {}).get("area_recall_at_threshold", {}).get(a, "")
                for r in results.values()) + " | comparable |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-previous", action="store_true",
                    help="skip the previous models (PREVIOUS_OPTIONS, FIRST_V2_OPTIONS)")
    ap.add_argument("--save", type=Path, default=None, help="keep the benchmark model here")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"{args.data}: shared data not found")
    t0 = time.perf_counter()
    d = load_data(args.data)
    split = build_split(d)
    full = build_split(d, split="9999-12-31", end="9999-12-31")  # no time split: the reviews' out-of-fold runs
    print(f"data: {len(split['examples'])} training examples ({split['n_neg']} unlabelled negatives), "
          f"{len(split['test'])} test papers, {len(split['test_pos'])} labelled, "
          f"{len(split['held_reviews'])} held-out reviewed; text {split['text_counts']} "
          f"[{time.perf_counter() - t0:.1f}s]")
    results: dict[str, dict[str, Any]] = {}
    if not args.no_baseline:
        base = run_baseline(split)
        base["reviewed_oof"] = reference_out_of_fold(full, d["reviewed"])
        print("reference baseline:")
        print(json.dumps(base, indent=2))
        results["tf-idf + LR reference (at 0.5)"] = base
    systems = [] if args.no_previous else [("previous model", PREVIOUS_OPTIONS), ("first v2", FIRST_V2_OPTIONS)]
    for name, options in [*systems, ("lfmwatch", None)]:
        res = run_model(split, args.save if options is None else None, options, speed=options is None)
        res["reviewed_oof"] = reviewed_out_of_fold(full, d["reviewed"], options)
        print(f"{name} ({options or 'default options'}):")
        print(json.dumps(res, indent=2))
        results[name] = res
    print(summary(results))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (whole benchmark process): {rss:.0f} MB")


if __name__ == "__main__":
    main()
