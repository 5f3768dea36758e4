"""`lfmwatch status`: a plain dict of what the store knows (later stages add their own keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lfmwatch.ingest.poll import WATERMARK_KEY
from lfmwatch.store.ledger import open_pull, proposal_counts
from lfmwatch.store.papers import count_papers

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.store.db import Store


def _run_summary(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    keys = ("id", "kind", "started", "finished", "status", "window_start", "window_end",
            "fetched", "new", "updated", "reason", "error")
    return {k: run.get(k) for k in keys}


def collect_status(store: Store, config: Config) -> dict[str, Any]:
    """Papers stored, the last successful poll and its window, the last error, the last runs."""
    runs = store.last_runs(limit=10)
    polls = store.last_runs("poll", limit=50)
    last_ok = next((r for r in polls if r["status"] == "ok"), None)
    last_failed = next((r for r in runs if r["status"] in ("failed", "interrupted")), None)
    last_poll = polls[0] if polls else None
    info = {
        "db": str(store.path),
        "papers": count_papers(store),
        "watermark": store.get_state(WATERMARK_KEY),
        "categories": list(config.arxiv.categories),
        "last_poll": _run_summary(last_poll),
        "last_successful_poll": _run_summary(last_ok),
        "last_error": _run_summary(last_failed),
        "runs": [_run_summary(r) for r in runs],
    }
    info.update(pipeline_status(store, config))  # the daily run, the PR, reviews, the model, the schedule
    from lfmwatch.store.retention import RetentionPolicy, retention_summary

    info["store"] = retention_summary(store, RetentionPolicy.from_config(config))
    return info


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def describe_store(store_info: dict[str, Any]) -> str:
    """One line for `status`: the store's size and what retention keeps (see lfmwatch.store.retention)."""
    by = store_info.get("kept_by") or {}
    return (f"{_mb(store_info['bytes'])}, {store_info['papers']} papers; retention keeps {store_info['kept']} "
            f"({by.get('ledger', 0)} in the ledger, {by.get('relevant', 0)} relevant, "
            f"{by.get('unclassified', 0)} unclassified, {by.get('window', 0)} of the last "
            f"{store_info['window_days']} days, {by.get('sample', 0)} in the retraining sample of "
            f"{store_info['sample_size']}), `lfmwatch compact` would drop {store_info['droppable']}")


def describe_compaction(report: Any) -> str:
    """One line saying what `compact` dropped (or would drop) and the size before and after."""
    if report.dry_run:
        return (f"dry run: would drop {report.papers_dropped} of {report.papers_before} papers, "
                f"{report.predictions_dropped} predictions and {report.summaries_dropped} summaries "
                f"(store now {_mb(report.bytes_before)}; stream day {report.reference_day})")
    if not (report.papers_dropped or report.predictions_dropped or report.summaries_dropped):
        return (f"nothing to compact: every one of {report.papers_before} papers is kept "
                f"({_mb(report.bytes_before)} -> {_mb(report.bytes_after)} after VACUUM)")
    return (f"dropped {report.papers_dropped} of {report.papers_before} papers, {report.predictions_dropped} "
            f"predictions and {report.summaries_dropped} summaries: {_mb(report.bytes_before)} -> "
            f"{_mb(report.bytes_after)}")


# --- the daily run, the pull request, reviews, the model card, the schedule (issue 6) -----------------------


def daily_runs(store: Store, limit: int = 5) -> list[dict[str, Any]]:
    """The last `lfmwatch run`s with counts per stage, the one-line reason and the error."""
    keys = ("id", "started", "finished", "status", "reason", "error", "counts")
    return [{k: r.get(k) for k in keys} for r in store.last_runs("run", limit=limit)]


def review_acceptance(store: Store) -> dict[str, Any]:
    """Acceptance rate from reviews: kept (accepted as proposed or moved) over decided, overall and per section."""
    try:
        from lfmwatch.store.ledger import acceptance_by_section
    except ImportError:  # the publishing stage is not installed: nothing was reviewed
        return {"accepted": 0, "moved": 0, "rejected": 0, "ignored": 0, "pending": 0, "rate": None,
                "by_section": []}
    rows = acceptance_by_section(store)
    total = {k: sum(r[k] for r in rows) for k in ("accepted", "moved", "rejected", "ignored", "pending")}
    decided = total["accepted"] + total["moved"] + total["rejected"] + total["ignored"]
    # No rate until a pull request has an outcome: ignores alone would read as "0% kept" before any review.
    reviewed = total["accepted"] + total["moved"] + total["rejected"]
    rate = round((total["accepted"] + total["moved"]) / decided, 3) if reviewed else None
    return {**total, "rate": rate, "by_section": rows}


def model_card(config: Config) -> dict[str, Any] | None:
    """The essentials of the model card beside `model.path`: trained when, on what, its metrics."""
    import json
    from pathlib import Path

    model_path = Path(config.model.path)
    try:
        from lfmwatch.model.io import card_path

        path = card_path(model_path)
    except ImportError:  # the classifier is not installed: the card still sits beside the model file
        path = model_path.with_name(model_path.stem + ".card.json")
    origin = config.model_origin or config.model.path
    if not Path(path).exists():
        return {"path": str(path), "origin": origin, "error": "no model card: train one with `lfmwatch train`"}
    try:
        card = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"path": str(path), "origin": origin, "error": f"unreadable model card: {exc}"}
    data = card.get("data") or {}
    return {
        "path": str(path),
        "model_path": str(model_path),
        "origin": origin,
        "version": card.get("version"),
        "created": card.get("created"),
        "command": card.get("command"),
        "data_hash": data.get("hash"),
        "papers": data.get("papers"),
        "positives": data.get("positives"),
        "examples_by_kind": data.get("examples_by_kind"),
        "threshold": card.get("threshold"),
        "target_precision": card.get("target_precision"),
        "metrics": card.get("metrics") or card.get("cv_at_threshold"),
        "libraries": card.get("libraries"),
        "unpredictable_sections": card.get("unpredictable_sections"),
    }


def schedule_status(store: Store, config: Config) -> dict[str, Any]:
    """Next scheduled times of the daemon's jobs and when each last fired."""
    from lfmwatch.run.daemon import JOB_IDS, LAST_FIRE_KEY, next_fire_times

    return {
        "run_cron": config.schedule.run_cron,
        "digest_cron": config.schedule.digest_cron,
        "retrain_cron": config.schedule.retrain_cron,
        "timezone": config.schedule.timezone,
        "next": next_fire_times(config),
        "last_fired": {job: store.get_state(LAST_FIRE_KEY.format(job=job)) for job in JOB_IDS},
    }


def pipeline_status(store: Store, config: Config) -> dict[str, Any]:
    """The issue-6 part of `lfmwatch status`."""
    return {
        "daily_runs": daily_runs(store),
        "open_pr": open_pull(store),
        "proposals": proposal_counts(store),
        "acceptance": review_acceptance(store),
        "model": model_card(config),
        "retrain": last_retrain(store),
        "schedule": schedule_status(store, config),
    }


def last_retrain(store: Store) -> dict[str, Any] | None:
    """The last gated retrain: when, its verdict and why, both models' figures, what it changed."""
    from lfmwatch.run.retrain import summary_line
    from lfmwatch.store.training import last_train_run

    run = last_train_run(store)
    if run is None:
        return None
    s = run["summary"]
    return {"finished": run.get("finished"), "verdict": s.get("verdict"), "reasons": s.get("reasons"),
            "line": summary_line(s), "champion": s.get("champion"), "challenger": s.get("challenger"),
            "threshold": s.get("threshold"), "effect": s.get("effect")}


PIPELINE_KEYS = ("daily_runs", "open_pr", "proposals", "acceptance", "model", "retrain", "schedule")


def plural(n: Any, word: str) -> str:
    """`1 paper`, `3 papers` (n may be None: `? papers`)."""
    return f"{'?' if n is None else n} {word}{'' if n == 1 else 's'}"


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def describe_pipeline_status(info: dict[str, Any]) -> list[tuple[str, str]]:
    """Human-readable (label, text) rows for the issue-6 keys of `collect_status`, for the plain/rich output."""
    rows: list[tuple[str, str]] = []
    for run in info.get("daily_runs") or []:
        counts = run.get("counts") or {}
        stages = ", ".join(f"{k} {v.get('status')}" for k, v in counts.items() if isinstance(v, dict))
        text = f"#{run['id']} {run['status']} {run.get('started') or ''}: proposed {counts.get('proposed', 0)}"
        if run.get("reason"):
            text += f"; {run['reason']}"
        if run.get("error"):
            text += f"; error: {str(run['error']).splitlines()[0]}"
        rows.append(("daily run", f"{text} ({stages})" if stages else text))
    pr = info.get("open_pr")
    rows.append(("open PR", f"#{pr['number']} with {plural(pr['papers'], 'paper')} {pr.get('url') or ''}".rstrip()
                 if pr else "none"))
    acc = info.get("acceptance") or {}
    rate = acc.get("rate")
    rows.append(("acceptance", "no reviewed papers yet" + (f" ({acc['pending']} pending)" if acc.get("pending") else "") if rate is None else
                 f"{rate:.0%} kept ({acc['accepted']} accepted, {acc['moved']} moved, {acc['rejected']} rejected, "
                 f"{acc['ignored']} ignored, {acc['pending']} pending)"))
    model = info.get("model") or {}
    if model.get("error"):
        rows.append(("model", model["error"]))
    else:
        rows.append(("model", f"{model.get('version')} from {model.get('origin')} ({model.get('model_path')}), "
                              f"trained {model.get('created')} on {model.get('papers')} papers "
                              f"({model.get('positives')} positive), threshold {_round(model.get('threshold'))}, "
                              f"data {str(model.get('data_hash') or '')[:12]}"))
    rt = info.get("retrain")
    rows.append(("last retrain", f"{rt.get('finished')}: {rt['line']}" if rt else "none recorded yet"))
    sched = info.get("schedule") or {}
    nxt = sched.get("next") or {}
    rows.append(("next run", f"{nxt.get('run')} ({sched.get('run_cron')} {sched.get('timezone')})"))
    rows.append(("next digest", f"{nxt.get('digest')} ({sched.get('digest_cron')} {sched.get('timezone')})"))
    rows.append(("next retrain", f"{nxt.get('retrain')} ({sched.get('retrain_cron')} {sched.get('timezone')})"))
    return rows
