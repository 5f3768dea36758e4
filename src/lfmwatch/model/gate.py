"""The quality gate: a retrained model (challenger) replaces the current one (champion) only when it is at least as
good on the same judged papers, scored out of fold.

Judged papers are the maintainer-reviewed papers and the decided proposals (accepted, moved, rejected or ignored;
not the papers of a pull request closed as a whole, which is no verdict on each). Per model we measure
- precision at its threshold: the share of judged papers it flags that the maintainers included (at least the
  champion's, or at least the target precision);
- recall of the judged includes: the share of included judged papers it flags;
- section accuracy: the share of included judged papers (with a known section) given exactly that section.
The challenger's relevance scores are the out-of-fold scores of its own cross-validated fit (`card["oof_judged"]`),
its sections come from section models refitted without each fold. The champion's figures come from the out-of-fold
record it carries in its card (`card["gate"]["oof"]`) for the papers judged when it was trained, and from its
plain predictions for papers judged since (it never saw them). A champion without a record (trained before the
gate) is scored by its plain predictions: optimistic on papers it trained on, so the gate errs on its side.
The operating point never loosens because the training data changed: the challenger's lower threshold stands
only when the judged papers between the two thresholds reach the target precision (at least `min_band` of them);
else the challenger works at the champion's precision on the judged papers (the lowest threshold, not below its
own, that reaches it), or, when that cannot be measured, at the champion's threshold. Pure: no store, no network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from lfmwatch.model.examples import FEEDBACK_KINDS, REVIEWED_KINDS, TrainingExample
from lfmwatch.model.thresholds import ranked_cumulative

METRICS = ("precision", "recall", "section_accuracy")
EPS = 1e-9


def judged_truth(examples: Sequence[TrainingExample]) -> dict[str, tuple[bool, str | None]]:
    """id -> (included, section) of every judged paper; the maintainers' verdict on a proposal beats a review."""
    review: dict[str, tuple[bool, str | None]] = {}
    verdict: dict[str, tuple[bool, str | None]] = {}
    for ex in examples:
        if ex.kind in FEEDBACK_KINDS:
            verdict[ex.id] = (ex.positive, ex.section if ex.positive else None)
        elif ex.kind in REVIEWED_KINDS:
            review[ex.id] = (ex.positive, ex.section if ex.positive else None)
    return {**review, **verdict}


def figures(truth: Mapping[str, tuple[bool, str | None]], prob: Mapping[str, float],
            section: Mapping[str, str | None], threshold: float) -> dict[str, Any]:
    """Precision at `threshold`, recall of the includes and section accuracy over the papers of `truth`."""
    ids = [i for i in truth if i in prob]
    flagged = [i for i in ids if prob[i] >= threshold]
    hits = sum(1 for i in flagged if truth[i][0])
    includes = [i for i in ids if truth[i][0]]
    with_section = [i for i in includes if truth[i][1] and section.get(i)]
    right = sum(1 for i in with_section if section[i] == truth[i][1])
    return {
        "judged": len(ids), "includes": len(includes), "flagged": len(flagged), "flagged_included": hits,
        "precision": round(hits / len(flagged), 4) if flagged else None,
        "recall": round(sum(1 for i in includes if prob[i] >= threshold) / len(includes), 4) if includes else None,
        "section_papers": len(with_section), "section_correct": right,
        "section_accuracy": round(right / len(with_section), 4) if with_section else None,
        "threshold": round(float(threshold), 4),
    }


def compare(champion: Mapping[str, Any], challenger: Mapping[str, Any],
            target_precision: float | None = None) -> tuple[bool, list[str]]:
    """(challenger at least as good on every metric, reasons it is not).

    Precision is good enough at the champion's or at `target_precision`: a model that finds more of the includes
    while staying at the precision the list asked for is not refused for one judged paper less in a thousand.
    """
    reasons = []
    for m in METRICS:
        old, new = champion.get(m), challenger.get(m)
        if old is None:
            continue  # nothing to defend
        if new is None:
            reasons.append(f"{m.replace('_', ' ')}: none measurable (champion {old:.3f})")
        elif m == "precision" and target_precision is not None and new >= target_precision - EPS:
            continue
        elif new < old - EPS:
            floor = f" and under the target {target_precision:.3f}" if m == "precision" and target_precision else ""
            reasons.append(f"{m.replace('_', ' ')} {new:.3f} < champion's {old:.3f}{floor}")
    return not reasons, reasons


def hold_threshold(truth: Mapping[str, tuple[bool, str | None]], prob: Mapping[str, float], new: float, old: float,
                   target_precision: float, min_band: int = 10,
                   champion_precision: float | None = None) -> tuple[float, dict[str, Any]]:
    """(threshold to use, evidence): a drop below the champion's threshold needs judged papers that justify it.

    Without that evidence, and when the champion's precision on the judged papers is known, the challenger works at
    the same precision instead: the lowest threshold (not below its own) at which it is at least as precise on the
    judged papers. Two models' probabilities need not mean the same (another sample of unlabelled papers shifts the
    calibration), so holding the champion's number could leave the challenger far stricter or looser than the
    champion; holding its precision compares the two where it matters, on recall at equal precision.
    """
    info: dict[str, Any] = {"champion": round(old, 4), "trained": round(new, 4)}
    if new >= old:
        info.update(rule="not lower than the champion's", used=round(new, 4))
        return new, info
    band = [i for i in truth if i in prob and new <= prob[i] < old]
    inc = sum(1 for i in band if truth[i][0])
    share = inc / len(band) if band else None
    info.update(band_papers=len(band), band_included=inc, band_precision=None if share is None else round(share, 3),
                min_band=min_band, target_precision=target_precision)
    if len(band) >= min_band and share is not None and share >= target_precision:
        info.update(rule="lowered: the judged papers between the thresholds reach the target precision",
                    used=round(new, 4))
        return new, info
    matched = _matching_threshold(truth, prob, new, champion_precision, min_band)
    if matched is not None:
        info.update(rule="matched: the lowest threshold at which it is as precise on the judged papers as the "
                         "champion", champion_precision=champion_precision, used=round(matched, 4))
        return matched, info
    info.update(rule="held at the champion's: too little evidence for a lower threshold", used=round(old, 4))
    return old, info


def _matching_threshold(truth: Mapping[str, tuple[bool, str | None]], prob: Mapping[str, float], floor: float,
                        precision: float | None, min_flagged: int) -> float | None:
    """Lowest score >= floor at which at least min_flagged judged papers are flagged with at least `precision`."""
    import numpy as np

    ids = [i for i in truth if i in prob]
    if precision is None or not ids:
        return None
    _, ranked, hits, n, ends = ranked_cumulative(np.array([prob[i] for i in ids]),
                                                 np.array([truth[i][0] for i in ids], dtype=float))
    # Only at the end of a run of tied scores: a cut cannot split papers with the same score.
    ok = np.flatnonzero(ends & (ranked >= floor) & (n >= min_flagged) & (hits / n >= precision))
    return float(ranked[ok[-1]]) if len(ok) else None


def oof_sections(model: Any, examples: Sequence[TrainingExample], ids: Sequence[str], texts: Mapping[str, Any],
                 folds: int = 3, seed: int = 0) -> dict[str, str | None]:
    """Section of each paper in `ids` from section models fitted without that paper's fold (the model's vocabulary)."""
    import numpy as np

    from lfmwatch.model.fit import FitOptions, fit_sections, section_training_sets

    ids = sorted(ids)
    if not ids:
        return {}
    order = np.random.default_rng(seed).permutation(len(ids))
    fold_of = {ids[j]: k % folds for k, j in enumerate(order)}
    area_rows, leaf_rows = section_training_sets(examples)
    opts = FitOptions(seed=seed)
    out: dict[str, str | None] = {}
    for k in range(folds):
        held = [i for i in ids if fold_of[i] == k]
        if not held:
            continue
        area_k = [e for e in area_rows if fold_of.get(e.id) != k]
        leaf_k = [e for e in leaf_rows if fold_of.get(e.id) != k]
        if not area_k:
            continue
        fold_model = replace(model, version="", **fit_sections(model.vocab, area_k, leaf_k, opts))
        for pid, pred in zip(held, fold_model.predict([texts[i] for i in held]), strict=True):
            out[pid] = pred["section"]
    return out


def oof_record(ids: Sequence[str], prob: Mapping[str, float], section: Mapping[str, str | None]) -> dict[str, Any]:
    """The compact out-of-fold record a model's card carries for the next gate."""
    keep = sorted(i for i in ids if i in prob)
    return {"ids": keep, "prob": [round(float(prob[i]), 5) for i in keep], "section": [section.get(i) for i in keep]}


def record_scores(card: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str | None]]:
    """(prob, section) by id from a card's out-of-fold record: the gate's, else the fit's relevance scores alone."""
    rec = (card.get("gate") or {}).get("oof") or card.get("oof_judged") or {}
    ids = rec.get("ids") or []
    sections = rec.get("section") or []
    return (dict(zip(ids, rec.get("prob") or [], strict=False)),
            {i: s for i, s in zip(ids, sections, strict=False) if s})


def live_scores(model: Any, ids: Sequence[str], texts: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """(prob, section) by id from a model's plain predictions of papers with known text."""
    have = [i for i in ids if i in texts]
    preds = model.predict([texts[i] for i in have]) if have else []
    return ({i: float(p["score"]) for i, p in zip(have, preds, strict=True)},
            {i: p["section"] for i, p in zip(have, preds, strict=True)})


def run_gate(champion: Any | None, challenger: Any, examples: Sequence[TrainingExample], *,
             target_precision: float, folds: int = 3, min_band: int = 10) -> tuple[Any, dict[str, Any]]:
    """(challenger with its threshold possibly held, gate report) — see the module doc.

    The report: judged papers, both models' figures, the threshold decision, `accepted` and the reasons.
    """
    truth = judged_truth(examples)
    texts = {e.id: {"id": e.id, "title": e.title, "abstract": e.abstract} for e in examples if e.id in truth}
    truth = {i: v for i, v in truth.items() if i in texts}
    oof = challenger.card.get("oof_judged") or {}
    c_prob = {i: float(p) for i, p in zip(oof.get("ids") or [], oof.get("prob") or [], strict=False) if i in truth}
    c_sec = oof_sections(challenger, examples, [i for i in truth if truth[i][0]], texts, folds=folds)
    report: dict[str, Any] = {"judged": len(truth), "included": sum(1 for v in truth.values() if v[0])}
    if champion is None:
        report.update(accepted=True, reasons=["no current model"], threshold={"used": challenger.threshold},
                      challenger=figures(truth, c_prob, c_sec, challenger.threshold), champion=None)
        report["oof"] = oof_record(list(truth), c_prob, c_sec)
        return challenger, report
    r_prob, r_sec = record_scores(champion.card)
    r_prob = {i: p for i, p in r_prob.items() if i in truth}
    live_prob, live_sec = live_scores(champion, list(truth), texts)
    h_prob = {**live_prob, **r_prob}
    # Sections: recorded out of fold, or live for papers judged since the champion was trained (it never saw
    # them). A paper it trained on without a recorded section has none: its live section would be in-sample.
    h_sec = {i: s for i, s in live_sec.items() if i not in r_prob}
    h_sec.update({i: s for i, s in r_sec.items() if i in truth})
    champ = figures(truth, h_prob, h_sec, float(champion.threshold))
    threshold, held = hold_threshold(truth, c_prob, float(challenger.threshold), float(champion.threshold),
                                     target_precision, min_band, champ["precision"])
    if threshold != challenger.threshold:
        how = ("matched to the current model's precision" if held["rule"].startswith("matched")
               else "held at the current model's")
        card = {**challenger.card, "threshold": threshold,
                "threshold_rule": f"{challenger.card.get('threshold_rule')} ({how})"}
        challenger = replace(challenger, threshold=threshold, card=card, version="")
    champ.update(scored_out_of_fold=len(r_prob), scored_live=len(truth) - len(r_prob))
    # Section accuracy on the same papers for both (those the champion has an honest section for).
    chall = figures(truth, c_prob, {i: c_sec.get(i) for i in h_sec}, threshold)
    accepted, reasons = compare(champ, chall, target_precision)
    if not truth:
        reasons = ["no judged papers to compare on"]
    if r_prob and not r_sec:
        report["note"] = ("section accuracy compared only on papers judged since the current model was trained: "
                          "its card records no out-of-fold sections")
    if champ["scored_live"] and not champ["scored_out_of_fold"]:
        report["note"] = ("the current model carries no out-of-fold record (trained before the gate): its figures "
                          "are its own predictions, optimistic on the judged papers it trained on")
    report.update(accepted=accepted, reasons=reasons, threshold=held, champion=champ, challenger=chall,
                  champion_version=champion.version)
    report["oof"] = oof_record(list(truth), c_prob, c_sec)
    return challenger, report
