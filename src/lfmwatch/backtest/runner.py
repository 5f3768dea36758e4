"""A whole backtest: each system replayed (once, then at every budget and threshold) and the result gathered."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lfmwatch.backtest.replay import (
    BUDGETS,
    SWEEP,
    Day,
    Label,
    Metrics,
    Proposal,
    Ranker,
    Selector,
    Truth,
    budget_curve,
    learning_curve,
    paired_sections,
    predict_days,
    ranking_recall,
    replay_with_review,
    score,
    section_accuracy,
    select_days,
    threshold_sweep,
)


@dataclass
class SystemRun:
    """One system's replay: metrics at the chosen budget, budget curve, and ranking recall (no threshold)."""

    metrics: Metrics
    curve: list[tuple[int, float, float, int]]
    proposals: list[Proposal]
    ranking: list[tuple[int, float]] = field(default_factory=list)
    all_sections: tuple[int, int, int, int] = (0, 0, 0, 0)  # top ok, top n, leaf ok, leaf n over every labelled paper
    sweep: list[tuple[float, float, float, int]] = field(default_factory=list)  # threshold, recall, precision, n


def run_system(
    name: str, ranker: Ranker, days: Sequence[Day], select: Selector, truth: Truth, per_day: int,
    budgets: Sequence[int] = BUDGETS, blocked: Iterable[str] = (), thresholds: Sequence[float] = (),
    replay: Callable[[], tuple[list[Proposal], list[list[dict[str, Any]]]]] | None = None,
) -> SystemRun:
    """Predict once, then select with the chosen budget, every budget of the curve and every threshold given.

    `replay`, when given, makes the headline proposals and the day's candidates (e.g. `backtest_store.replay_store`:
    the daily run's store path); the curves come from the pure selection over those candidates.
    """
    blocked = set(blocked)
    if replay is not None:
        proposals, cands = replay()
    else:
        cands = predict_days(ranker, days)
        proposals = select_days(days, cands, select, per_day, blocked)
    curve = budget_curve(days, cands, select, truth, budgets, blocked) if truth.labels else []
    ranking = ranking_recall(cands, truth, sorted(set(budgets) | {per_day})) if truth.labels else []
    sweep = threshold_sweep(days, cands, select, truth, per_day, thresholds, blocked) if truth.labels else []
    return SystemRun(score(name, proposals, truth, days, per_day), curve, proposals, ranking,
                     section_accuracy(cands, truth), sweep)


@dataclass
class BacktestResult:
    """Everything the report shows: parameters, each system's run, the review simulation and timings."""

    params: dict[str, Any]
    systems: dict[str, SystemRun]
    truth: Truth
    days: list[str]
    review: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def numbers(self) -> dict[str, Any]:
        """The deterministic numbers (no timings): same inputs give the same dict."""
        out: dict[str, Any] = {
            "params": self.params,
            "systems": {k: {**v.metrics.summary(), "per_section": v.metrics.per_section,
                            "curve": [list(c) for c in v.curve], "ranking_recall": [list(c) for c in v.ranking],
                            "section_accuracy_all_labelled": list(v.all_sections),
                            "threshold_sweep": [list(c) for c in v.sweep]}
                        for k, v in self.systems.items()},
            "labelled_in_list": sorted(self.truth.in_list),
        }
        runs = list(self.systems.values())
        if runs and self.truth.labels:
            out["paired_sections"] = {r.metrics.name: paired_sections(runs[0].proposals, r.proposals, self.truth)
                                      for r in runs[1:]}
        if self.review:
            out["review"] = {k: v for k, v in self.review.items() if k != "proposals"}
        return out


def run_backtest(
    days: Sequence[Day], systems: Mapping[str, Ranker], select: Selector, labels: Mapping[str, Sequence[Label]],
    *, per_day: int, listed_ids: Iterable[str] = (), review_every: int = 0,
    retrain: Callable[[list[dict[str, Any]]], Ranker] | None = None, params: Mapping[str, Any] | None = None,
    budgets: Sequence[int] = BUDGETS, clock: Callable[[], float] | None = None,
    reviewed: Mapping[str, bool] | None = None,
    replay: Callable[[], tuple[list[Proposal], list[list[dict[str, Any]]]]] | None = None,
) -> BacktestResult:
    """Replay `days` through every system (the first one is lfmwatch), score them and run the review simulation.

    `reviewed` (id -> include) are held-out reviewer verdicts: they sharpen the precision estimate. `replay` makes
    the first system's headline proposals (see `run_system`).
    """
    import time

    tick = clock or time.perf_counter
    truth = Truth.build(labels, days, listed_ids)
    truth.reviewed = dict(reviewed or {})
    blocked: set[str] = set()  # a fresh store: nothing proposed or rejected yet
    runs: dict[str, SystemRun] = {}
    timings: dict[str, float] = {}
    for i, (name, ranker) in enumerate(systems.items()):
        t0 = tick()
        # The threshold sweep only means something for lfmwatch's calibrated probability.
        runs[name] = run_system(name, ranker, days, select, truth, per_day, budgets, blocked, SWEEP if i == 0 else (),
                                replay if i == 0 else None)
        timings[f"replay {name}"] = tick() - t0
    review = None
    if review_every > 0 and retrain is not None and systems:
        first = next(iter(systems))
        t0 = tick()
        props, rounds = replay_with_review(days, systems[first], select, per_day, labels, review_every, retrain, blocked,
                                           truth.reviewed)
        timings["replay with review (incl. retraining)"] = tick() - t0
        with_review = score(f"{first} + review", props, truth, days, per_day)
        review = {
            "every": review_every,
            "rounds": [vars(r) for r in rounds],
            "metrics": with_review.summary(),
            "frozen": learning_curve(runs[first].proposals, truth, days, review_every),
            "reviewed": learning_curve(props, truth, days, review_every),
            "proposals": props,
        }
    return BacktestResult(dict(params or {}), runs, truth, [d for d, _ in days], review, timings)
