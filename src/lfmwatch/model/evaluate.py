"""Cross-validated evaluation: per-section precision/recall, confusion between sections, relevance calibration."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from lfmwatch.model.examples import TrainingExample
from lfmwatch.model.fit import FitOptions, fit_sections, section_training_sets
from lfmwatch.records import area_of


def _section_only_model(vocab: Any, parts: dict[str, Any], leaf_min: float) -> Any:
    """An LfmModel whose relevance is a constant: enough to run the production section logic."""
    import numpy as np

    from lfmwatch.model.classifier import LfmModel

    return LfmModel(
        vocab=vocab, rel_coef=np.zeros((vocab.n_features, 1), np.float32), rel_intercept=np.zeros(1),
        calib_x=np.array([0.0, 1.0]), calib_y=np.array([0.0, 0.0]), threshold=1.0, sections=[],
        leaf_min=leaf_min, **parts,
    )


def cross_validate_sections(
    examples: Sequence[TrainingExample], *, folds: int = 5, options: FitOptions | None = None
) -> dict[str, Any]:
    """K-fold (grouped by paper) section accuracy of the production section logic over all labelled papers.

    Top-level accuracy counts every labelled paper; leaf accuracy only papers with an exact-leaf label. A paper
    with several labels (lists disagree) is right when the prediction matches any of them.
    """
    import numpy as np

    from lfmwatch.model.features import fit_vocabulary

    opts = options or FitOptions()
    area_rows, leaf_rows = section_training_sets(examples)
    ids = sorted({e.id for e in area_rows})
    rng = np.random.default_rng(opts.seed)
    fold_of = dict(zip(ids, rng.permutation(len(ids)) % folds, strict=True))
    areas_true: dict[str, set[str]] = defaultdict(set)
    leaves_true: dict[str, set[str]] = defaultdict(set)
    text: dict[str, TrainingExample] = {}
    for e in area_rows:
        areas_true[e.id].add(area_of(e.section or ""))
        text.setdefault(e.id, e)
    for e in leaf_rows:
        leaves_true[e.id].add(e.section or "")
    predicted: dict[str, dict[str, Any]] = {}
    for k in range(folds):
        train_a = [e for e in area_rows if fold_of[e.id] != k]
        train_l = [e for e in leaf_rows if fold_of[e.id] != k]
        test_ids = [i for i in ids if fold_of[i] == k]
        if not train_a or not test_ids:
            continue
        vocab = fit_vocabulary([{"title": e.title, "abstract": e.abstract} for e in train_a], min_df=(1, 2),
                                 roles=opts.title_roles)
        model = _section_only_model(vocab, fit_sections(vocab, train_a, train_l, opts), opts.leaf_min)
        preds = model.predict([{"title": text[i].title, "abstract": text[i].abstract} for i in test_ids])
        predicted.update(zip(test_ids, preds, strict=True))
    top_ok = sum(area_of(predicted[i]["section"] or "") in areas_true[i] for i in predicted)
    leaf_ids = [i for i in predicted if leaves_true.get(i)]
    leaf_ok = sum(predicted[i]["section"] in leaves_true[i] for i in leaf_ids)
    # Per-section precision/recall on exact leaves, and which sections get confused with which.
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    for i in leaf_ids:
        pred, truth = predicted[i]["section"], leaves_true[i]
        if pred in truth:
            tp[pred] += 1
        else:
            fp[pred] += 1
            for t in truth:
                fn[t] += 1
                confusion[(t, pred)] += 1
    sections = sorted(set(tp) | set(fp) | set(fn))
    per_section = {
        s: {
            "precision": tp[s] / (tp[s] + fp[s]) if tp[s] + fp[s] else None,
            "recall": tp[s] / (tp[s] + fn[s]) if tp[s] + fn[s] else None,
            "support": tp[s] + fn[s],
        }
        for s in sections
    }
    return {
        "top_level_accuracy": top_ok / max(len(predicted), 1),
        "leaf_accuracy": leaf_ok / max(len(leaf_ids), 1),
        "n_top": len(predicted),
        "n_leaf": len(leaf_ids),
        "per_section": per_section,
        "confusion": [[t, p, n] for (t, p), n in confusion.most_common(15)],
    }


def calibration_table(prob: Any, target: Any, weight: Any, prior: float, bins: Sequence[float] = (
    0.0, 0.01, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0001)) -> list[dict[str, Any]]:
    """Per probability bin: papers, positives, mean predicted and observed rate at the stream prior."""

    pos_w = weight * (target == 1)
    neg_w = weight * (target == 0)
    scale = prior / (1 - prior) * neg_w.sum() / max(pos_w.sum(), 1e-12)
    rows = []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        m = (prob >= lo) & (prob < hi)
        if not m.any():
            continue
        p, n = (pos_w[m] * scale).sum(), neg_w[m].sum()
        rows.append({"bin": f"[{lo:.2f}, {min(hi, 1.0):.2f})", "papers": int(m.sum()), "positives": int((target[m] == 1).sum()),
                     "mean_predicted": round(float(prob[m].mean()), 4), "observed": round(float(p / (p + n)), 4)})
    return rows


def evaluate_examples(examples: Sequence[TrainingExample], *, folds: int = 5, target_precision: float = 0.9,
                      options: FitOptions | None = None) -> dict[str, Any]:
    """Cross-validated report: section metrics and relevance calibration (out-of-fold) with the threshold's effect."""
    import numpy as np

    from lfmwatch.model.fit import fit_relevance, relevance_inputs
    from lfmwatch.model.thresholds import calibration_curve, choose_threshold

    opts = options or FitOptions()
    report: dict[str, Any] = {"sections": cross_validate_sections(examples, folds=folds, options=opts)}
    pos_ids = {e.id for e in examples if e.positive}
    if len(pos_ids) >= opts.folds and len({e.id for e in examples} - pos_ids) >= opts.folds:
        rel = relevance_inputs(examples, opts)
        y, w = rel.y, rel.w
        _, _, oof, used = fit_relevance(rel.X, y, w, opts, [p.id for p in rel.papers])
        target = (y == 1).astype(int)[used]
        cw = np.where(y == -1, w * opts.negative_weight, w)[used]
        # Calibrate on half the out-of-fold scores and report on the other half: an honest table.
        rng = np.random.default_rng(opts.seed)
        half = rng.random(len(target)) < 0.5
        cx, cy = calibration_curve(oof[used][half], target[half], cw[half], opts.stream_prior)
        prob = np.interp(oof[used][~half], cx, cy)
        thr, at = choose_threshold(prob, target[~half], cw[~half], target_precision, opts.stream_prior)
        report["relevance"] = {
            "positives": int((y == 1).sum()),
            "negatives": int((y != 1).sum()),
            "calibration": calibration_table(prob, target[~half], cw[~half], opts.stream_prior),
            "threshold": thr,
            "at_threshold": at,
        }
    return report
