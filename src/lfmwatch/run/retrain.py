"""The learning loop where the bot runs: `lfmwatch train` without data arguments (weekly workflow, daemon job).

It trains from the list as it stands on GitHub (the README of target.repo's base branch, through the API), the
review feedback in state.db, the newest stored papers (unlabelled) and the training bundle committed beside the
model (`model.bundle`), then lets the quality gate (`lfmwatch.model.gate`) decide whether the new model replaces
the current one. Every retrain is recorded as a `train` run in state.db with its verdict, both models' figures,
the threshold decision and its effect on the store (papers flagged per day on the recent stream, stored papers
whose verdict changes), which `lfmwatch status` and the next daily run's summary show.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lfmwatch.errors import GitHubError, ModelError

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.model.examples import TrainingExample
    from lfmwatch.store.db import Store

log = logging.getLogger(__name__)
RECENT_DAYS = 30


def train_out(config: Config) -> Path:
    """Where training writes without --out: model.path, except never over the packaged model (models/ instead)."""
    from lfmwatch.config import DEFAULT_MODEL_PATH, PACKAGED_MODEL

    return Path(DEFAULT_MODEL_PATH if config.model_origin == PACKAGED_MODEL else config.model.path)


def readme_from_github(config: Config, session: Any) -> tuple[str, str]:
    """(text, where) of the list's README on the branch the bot's PRs target (default: the default branch)."""
    t = config.target
    repo = session.repo(t.repo)
    ref = t.base_branch or repo.default_branch
    f = repo.read_file(t.readme, ref)
    if f is None:
        raise GitHubError(f"{t.repo}: {t.readme} not found on branch {ref}", "check target.repo and target.readme")
    return f.text, f"{t.repo}@{ref}:{t.readme}"


def deployment_examples(store: Store, config: Config, readme_text: str, readme_where: str, *,
                        fetch_missing: bool = True) -> tuple[list[TrainingExample], dict[str, Any]]:
    """Training examples from the README text, the bundle (when present), store feedback and the store's stream."""
    from lfmwatch.model.bundle import read_bundle
    from lfmwatch.model.examples import example, fill_texts, mark_stream, readme_entries
    from lfmwatch.model.readers import arxiv_fetcher, feedback_examples
    from lfmwatch.store.papers import get_papers
    from lfmwatch.store.retention import stream_sample

    bundle_path = Path(config.model.bundle)
    bundle = read_bundle(bundle_path) if bundle_path.exists() else None
    entries, sections = readme_entries(readme_text, config.target.exclude_sections)
    examples = [example(pid, title, None, section, "list") for pid, section, title in entries]
    if bundle is not None:
        examples += bundle.labels + bundle.reviewed
    feedback = feedback_examples(store)
    examples += feedback
    labelled = {e.id for e in examples}
    known: dict[str, Any] = dict(bundle.texts) if bundle else {}
    stream_ids = set(bundle.stream) if bundle else set()
    negatives = [e for e in (bundle.unlabelled if bundle else []) if e.id not in labelled]
    taken = {e.id for e in negatives}
    from_store = 0
    for paper in stream_sample(store, config.model.stream_sample, config.arxiv.categories):
        pid = paper["id"]
        if pid in labelled:
            stream_ids.add(pid)
            if paper.get("abstract") and not (known.get(pid) or {}).get("abstract"):
                known[pid] = paper
        elif pid not in taken:
            taken.add(pid)
            negatives.append(example(pid, paper.get("title"), paper.get("abstract"), None, "negative"))
            from_store += 1
    known.update(get_papers(store, [i for i in labelled if not (known.get(i) or {}).get("abstract")]))
    fetch = arxiv_fetcher(config) if fetch_missing else None
    examples, counts = fill_texts(mark_stream(examples, stream_ids), known, fetch)
    kinds: dict[str, int] = {}
    for e in feedback:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    info: dict[str, Any] = {
        "sources": {
            "readme": {"from": readme_where, "entries": len(entries),
                       "without_abstract": sum(1 for e in examples if e.kind == "list" and not e.abstract)},
            "bundle": None if bundle is None else {
                "path": str(bundle_path), "sha256": bundle.sha256, "labels": len(bundle.labels),
                "reviewed": len(bundle.reviewed), "unlabelled": len(bundle.unlabelled), "texts": len(bundle.texts)},
            "feedback": {"papers": len(feedback), **dict(sorted(kinds.items()))},
            "store_sample": {"papers": from_store, "limit": config.model.stream_sample},
        },
        "text": counts,
        "sections": sections,
        "unlabelled_seen": (bundle.unlabelled_seen if bundle else 0) + from_store,
    }
    if bundle is None:
        log.warning("no training bundle at %s: training on the README, feedback and the store only", bundle_path)
    return examples + negatives, info


def store_effect(store: Store, old: Any | None, new: Any, days: int = RECENT_DAYS) -> dict[str, Any]:
    """What the new model changes on the store: flagged per listing day over the last `days` days, and how many
    stored papers change verdict (at each model's own threshold)."""
    from lfmwatch.store.training import iter_paper_texts

    rows: list[tuple[str | None, bool | None, bool]] = []
    for batch in iter_paper_texts(store):
        new_rel = [bool(p["relevant"]) for p in new.predict(batch)]
        old_rel: list[bool | None] = [bool(p["relevant"]) for p in old.predict(batch)] if old else [None] * len(batch)
        rows += [(p["listed"], o, n) for p, o, n in zip(batch, old_rel, new_rel, strict=True)]
    listed = sorted({r[0] for r in rows if r[0]})
    out: dict[str, Any] = {"stored_papers": len(rows), "recent_days": 0, "flagged_per_day": {"old": None, "new": None}}
    if listed:
        start = (date.fromisoformat(listed[-1][:10]) - timedelta(days=days - 1)).isoformat()
        recent = [r for r in rows if r[0] and r[0] >= start]
        n_days = len({r[0] for r in recent})
        out["recent_days"] = n_days
        out["recent_from"] = start
        out["flagged_per_day"] = {
            "old": round(sum(1 for r in recent if r[1]) / n_days, 2) if old else None,
            "new": round(sum(1 for r in recent if r[2]) / n_days, 2)}
    if old is not None:
        out["verdict_changed"] = sum(1 for r in rows if r[1] != r[2])
        out["now_relevant"] = sum(1 for r in rows if r[2] and not r[1])
        out["no_longer_relevant"] = sum(1 for r in rows if r[1] and not r[2])
    return out


@dataclass
class RetrainOutcome:
    """What one gated retrain decided."""

    verdict: str  # first model | accepted | refused | forced
    summary: dict[str, Any]
    path: Path | None  # the model file written (None when refused or in a dry run)

    def line(self) -> str:
        """One line for the terminal and the runs table."""
        return summary_line(self.summary)


def summary_line(s: dict[str, Any]) -> str:
    """A retrain summary in one line: verdict, why, and what changed."""
    verdict = s.get("verdict", "?")
    head = {"refused": "retrained model refused, current model kept",
            "forced": "retrained model installed by --force although the gate refused it",
            "accepted": "retrained model installed", "first model": "model trained (no current model)"}.get(verdict, verdict)
    reasons = s.get("reasons") or []
    if reasons and verdict in ("refused", "forced"):
        head += ": " + "; ".join(reasons) + (f" ({s['note']})" if s.get("note") else "")
    thr = s.get("threshold") or {}
    parts = []
    if thr.get("champion") is not None:
        parts.append(f"threshold {thr['champion']:.3f} -> {thr.get('used', 0):.3f}"
                     + (f" (trained {thr['trained']:.3f}, held)" if "held" in str(thr.get("rule")) else "")
                     + (f" (trained {thr['trained']:.3f}, matched to the current model's judged precision"
                        f" {thr['champion_precision']:.3f})" if str(thr.get("rule")).startswith("matched") else ""))
    eff = s.get("effect") or {}
    fpd = eff.get("flagged_per_day") or {}
    if fpd.get("new") is not None:
        parts.append(f"flagged per day {fpd.get('old') if fpd.get('old') is not None else '-'} -> {fpd['new']}"
                     f" (last {eff.get('recent_days')} listing days)")
    if eff.get("verdict_changed") is not None:
        parts.append(f"{eff['verdict_changed']} of {eff.get('stored_papers')} stored papers change verdict"
                     f" (+{eff.get('now_relevant', 0)} / -{eff.get('no_longer_relevant', 0)})")
    return head + (" | " + ", ".join(parts) if parts else "")


def retrain(store: Store, config: Config, examples: list[TrainingExample], info: dict[str, Any], *, out: Path,
            force: bool = False, dry_run: bool = False, command: str | None = None,
            champion_path: Path | None = None) -> RetrainOutcome:
    """Fit a challenger, gate it against the model in use (`champion_path`, default `out`), write it to `out` or
    keep the champion, record the run."""
    from lfmwatch.model.fit import fit_model
    from lfmwatch.model.gate import run_gate
    from lfmwatch.model.io import card_path, load_model, save_model
    from lfmwatch.store.training import record_train_run

    challenger = fit_model(
        examples, sections=info.get("sections", []), target_precision=config.model.target_precision, command=command,
        extra_card={"sources": info.get("sources", {}), "text_sources": info.get("text", {}),
                    "unlabelled_seen": info.get("unlabelled_seen")},
        unlabelled_seen=info.get("unlabelled_seen"),
    )
    champion, champion_error = None, None
    current = champion_path or out
    if current.exists():
        try:
            champion = load_model(current)
        except ModelError as exc:  # e.g. made by another scikit-learn: it cannot run here, so it cannot defend
            champion_error = exc.message
    challenger, report = run_gate(champion, challenger, examples, target_precision=config.model.target_precision)
    if champion is None:
        verdict = "first model"
        if champion_error:
            report["reasons"] = [f"the current model cannot be loaded: {champion_error}"]
    else:
        verdict = "accepted" if report["accepted"] else ("forced" if force else "refused")
    effect = store_effect(store, champion, challenger)
    summary = {
        "verdict": verdict, "reasons": report.get("reasons", []), "note": report.get("note"),
        "judged": report.get("judged"),
        "champion": report.get("champion"), "challenger": report.get("challenger"),
        "threshold": report.get("threshold"), "effect": effect,
        "champion_version": champion.version if champion else None, "challenger_version": challenger.version,
        "sources": info.get("sources"), "dry_run": dry_run,
    }
    card = challenger.card
    card.pop("oof_judged", None)
    card["gate"] = {k: summary[k] for k in ("verdict", "reasons", "note", "judged", "champion", "challenger",
                                            "threshold", "champion_version")}
    card["gate"]["oof"] = report.get("oof")
    card["effect"] = effect
    outcome = RetrainOutcome(verdict, summary, None)
    if dry_run:
        return outcome
    rejected_card = out.with_name(out.stem + ".challenger.card.json")
    if verdict == "refused":
        import json

        card = {**card, "version": challenger.version, "threshold": challenger.threshold}
        rejected_card.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        summary["challenger_card"] = str(rejected_card)
    else:
        outcome.path = save_model(challenger, out)
        summary["card"] = str(card_path(out))
        if rejected_card.exists():
            rejected_card.unlink()
    record_train_run(store, "ok", outcome.line(), summary)
    return outcome


def run_retrain(store: Store, config: Config, *, session: Any = None, out: Path | None = None, force: bool = False,
                dry_run: bool = False, fetch_missing: bool = True, command: str = "lfmwatch train",
                echo: Any = None) -> RetrainOutcome:
    """The whole deployment retrain: README from GitHub, examples, fit, gate, install or keep, summary."""
    own = session is None
    if own:
        from lfmwatch.adapters.github import GitHubSettings, connect

        session = connect(GitHubSettings.from_config(config))
    try:
        text, where = readme_from_github(config, session)
    finally:
        if own and hasattr(session, "close"):
            session.close()
    examples, info = deployment_examples(store, config, text, where, fetch_missing=fetch_missing)
    src = info["sources"]
    line = (f"training data: README {where}: {src['readme']['entries']} entries "
            f"({src['readme']['without_abstract']} without an abstract); bundle: "
            + (f"{src['bundle']['labels']} labels, {src['bundle']['reviewed']} reviewed, "
               f"{src['bundle']['unlabelled']} unlabelled" if src["bundle"] else "none")
            + f"; feedback: {src['feedback']['papers']} papers; store: {src['store_sample']['papers']} recent papers")
    (echo or log.info)(line)
    outcome = retrain(store, config, examples, info, out=out or train_out(config), force=force, dry_run=dry_run,
                      command=command, champion_path=None if out else Path(config.model.path))
    write_train_summary(outcome.summary)
    return outcome


def train_markdown(s: dict[str, Any]) -> str:
    """The retrain as Markdown for the Actions step summary."""
    from lfmwatch.textsafe import md_inline

    lines = [f"## lfmwatch retrain: {s.get('verdict')}", "", md_inline(summary_line(s), max_len=600), ""]
    champ, chall = s.get("champion") or {}, s.get("challenger") or {}
    lines += [f"Judged papers compared (reviewed + decided proposals, out of fold): {s.get('judged')}", "",
              "| | current model | retrained model |", "|---|---|---|"]
    for key in ("precision", "recall", "section_accuracy", "threshold", "flagged"):
        fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
        lines.append(f"| {key.replace('_', ' ')} | {fmt(champ.get(key))} | {fmt(chall.get(key))} |")
    thr = s.get("threshold") or {}
    if thr.get("rule"):
        lines += ["", f"Threshold: {md_inline(str(thr['rule']), max_len=200)}"
                  + (f" ({thr.get('band_papers')} judged papers between the thresholds, "
                     f"{thr.get('band_included')} included)" if "band_papers" in thr else "")]
    return "\n".join(lines) + "\n"


def write_train_summary(summary: dict[str, Any]) -> None:
    """Append the retrain's Markdown to $GITHUB_STEP_SUMMARY when Actions set it (never fails the retrain)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as f:
            f.write(train_markdown(summary))
    except OSError as exc:
        log.warning("cannot write the step summary to %s: %s", target, exc)
