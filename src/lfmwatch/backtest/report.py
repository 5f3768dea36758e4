"""The backtest report: `report.md` with the tables, `metrics.json` with the numbers and PNG plots (matplotlib)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lfmwatch.backtest.replay import learning_curve, paired_sections
from lfmwatch.backtest.runner import BacktestResult
from lfmwatch.errors import InputError, LfmwatchError

COLORS = {"lfmwatch": "#1f77b4", "lfmwatch + review": "#17becf", "keywords": "#d62728",
          "tf-idf + LinearSVC": "#ff7f0e"}
SHOWN_BUDGETS = (1, 3, 5, 10, 15, 20)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _frac(ok: int, n: int) -> str:
    return f"{_pct(ok / n) if n else '–'} ({ok}/{n})"


def headline_rows(result: BacktestResult) -> list[list[str]]:
    """Rows of the headline table, one per system (the review run last when there is one)."""
    rows = []
    k = result.params.get("per_day")
    for run in result.systems.values():
        m = run.metrics
        rank = next((f"{_pct(r)}" for kk, r in run.ranking if kk == k), "–")
        rows.append([
            m.name, _frac(m.found, m.labelled), rank, _frac(m.proposed_labelled, m.proposed),
            _frac(m.top_ok, m.top_n), _frac(m.leaf_ok, m.leaf_n), f"{m.day_median:g} / {m.day_max}", str(m.proposed),
        ])
    if result.review:
        s = result.review["metrics"]
        rows.append([
            s["system"], f"{_pct(s['recall'])} ({s['found']}/{s['labelled']})", "–", f"{_pct(s['precision_lb'])}",
            f"{_pct(s['top_accuracy'])} (n={s['top_n']})", f"{_pct(s['leaf_accuracy'])} (n={s['leaf_n']})",
            f"{s['per_day_median']:g} / {s['per_day_max']}", str(s["proposed"]),
        ])
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def headline_table(result: BacktestResult) -> str:
    """The headline Markdown table (also what the command prints)."""
    k = result.params.get("per_day")
    header = [f"system (K={k}/day)", f"recall@{k}/day", f"ranking recall@{k}/day", "precision (lower bound)",
              "top-level accuracy",
              "leaf accuracy", "proposals/day median / max", "proposals"]
    return _table(header, headline_rows(result))


def comparison(result: BacktestResult) -> list[str]:
    """A table saying by how much lfmwatch beats (or trails) each baseline, measure by measure, and a verdict."""
    runs = list(result.systems.values())
    if not runs or not runs[0].metrics.labelled:
        return ["No labelled paper falls in the replayed period: nothing to compare."]
    k = runs[0].metrics.per_day

    def ratio(ok: int, n: int) -> float:
        return ok / n if n else 0.0

    measures: list[tuple[str, Any]] = [
        (f"recall@{k}/day, top {k} by score (classifier benchmark)", lambda r: dict(r.ranking).get(k, 0.0)),
        (f"recall@{k}/day, proposed (threshold + budget)", lambda r: r.metrics.recall),
        ("top-level accuracy, all labelled", lambda r: ratio(*r.all_sections[:2])),
        ("leaf accuracy, all labelled", lambda r: ratio(*r.all_sections[2:])),
        ("top-level accuracy, proposed", lambda r: r.metrics.top_accuracy),
        ("leaf accuracy, proposed", lambda r: r.metrics.leaf_accuracy),
        ("precision (lower bound)", lambda r: r.metrics.precision),
    ]
    header = ["measure", runs[0].metrics.name]
    for other in runs[1:]:
        header += [other.metrics.name, "lfmwatch ahead by"]
    rows = []
    for name, get in measures:
        row = [name, _pct(get(runs[0]))]
        for other in runs[1:]:
            row += [_pct(get(other)), f"{100 * (get(runs[0]) - get(other)):+.1f} points"]
        rows.append(row)
    lines = [_table(header, rows), ""]
    scored = measures[:6]  # recall and section accuracy; precision is a lower bound and told apart below
    for other in runs[1:]:
        ahead = [name for name, get in scored if get(runs[0]) > get(other)]
        behind = [name for name, get in scored if get(runs[0]) < get(other)]
        verdict = f"- vs {other.metrics.name}: ahead on {len(ahead)} of the {len(scored)} recall/accuracy measures"
        lines.append(verdict + (f"; behind on {', '.join(behind)}." if behind else "."))
    lines += ["", "Accuracy over the proposed papers compares different sets of papers (each system proposed its own)."
              " On the labelled papers that both proposed, the same papers filed by each:", ""]
    rows = []
    for other in runs[1:]:
        pair = paired_sections(runs[0].proposals, other.proposals, result.truth)
        rows.append([other.metrics.name, str(pair["n"]), _frac(pair["a_ok"], pair["n"]), _frac(pair["b_ok"], pair["n"]),
                     _frac(pair["leaf_a_ok"], pair["leaf_n"]), _frac(pair["leaf_b_ok"], pair["leaf_n"])])
    lines.append(_table(["baseline", "labelled papers both proposed", f"top-level: {runs[0].metrics.name}",
                         "top-level: baseline", f"leaf: {runs[0].metrics.name}", "leaf: baseline"], rows))
    return lines


def precision_note(result: BacktestResult) -> list[str]:
    """Why the lower-bound precision is low for a system that proposes more, in the model's own figures."""
    p, runs = result.params, list(result.systems.values())
    pu = p.get("stream_pu") or {}
    if not runs or not pu.get("stream_papers") or not runs[0].metrics.days:
        return []
    period = len(result.truth.period) / max(int(p.get("papers") or 0), 1)
    before = pu["stream_labelled"] / pu["stream_papers"]
    lines = [f"The threshold rule was `{p.get('threshold_rule')}` (target precision"
             f" {_pct(float(p.get('target_precision') or 0))})."]
    if pu.get("applied"):
        lines[0] += (f" Before the period, {_pct(before)} of the papers were labelled and the model estimated that the"
                     f" labels cover {_pct(pu['labelled_share_of_relevant'])} of the relevant papers"
                     f" ({_pct(pu['relevant_share_of_stream'])} of the stream relevant).")
    lines[0] += (f" In the replayed period {_pct(period)} of the papers are labelled: every unlabelled proposal counts"
                 " as wrong in the lower bound, so a system that proposes more relevant but unlabelled papers scores"
                 " lower there. Give `--reviewed` for held-out reviewer verdicts on the period's papers.")
    return ["", *lines]


def report_markdown(result: BacktestResult, images: Sequence[str]) -> str:
    """The whole report.md."""
    p = result.params
    runs = list(result.systems.values())
    lines = [
        "# lfmwatch backtest", "",
        f"Replay of **{p.get('from')} .. {p.get('to')}**: {p.get('papers')} papers in {', '.join(p.get('categories', []))}"
        f" over {p.get('days')} listing days, each day through classify -> select (threshold {p.get('threshold')},"
        f" at most {p.get('per_day')} papers a day, deduped against the list and earlier days)"
        + (", lfmwatch's through a fresh temporary state.db as in the daily run (store, classify, candidates,"
           f" select; {p['store_replay']['carried_over']} papers proposed on a later day because of the daily cap)"
           if p.get("store_replay") else "") + ".",
        f"Model: {'trained on data known by ' + p['train_until'] if p.get('train_until') else 'the configured model'}"
        f" (version {p.get('model')}); labels: `{p.get('labels')}`; list: `{p.get('readme') or 'none (no list dedupe)'}`.",
        "",
        f"Labelled papers to find in the period: **{len(result.truth.period)}**"
        + (f" ({len(result.truth.in_list)} more are already in the list and cannot be proposed)"
           if result.truth.in_list else "") + ".",
        "", "## Headline", "", headline_table(result), "",
        "Recall: share of the period's labelled papers proposed within the daily budget (threshold, cap and dedupe"
        " applied, as the daily run does). Ranking recall: share found among each day's top K by score, ignoring"
        " the threshold (the classifier benchmark's recall@K/day). Precision counts proposals"
        " that are labelled, a lower bound: labels are a sample, so relevant but unlabelled proposals count as misses."
        " Top-level accuracy: proposed labelled papers filed in their labelled area; leaf accuracy: those with an"
        " exact (`precision: leaf`) label filed in exactly that section.", "",
        "## lfmwatch against the baselines", "", *comparison(result), *precision_note(result), "",
        f"With {len(result.truth.period)} labelled papers, one paper moves recall by"
        f" {100 / max(len(result.truth.period), 1):.1f} points; accuracies over the few proposed labelled papers move"
        " more. The table below scores the section of every labelled paper of the period, proposed or not (the"
        " classifier benchmark's definition), which is steadier:", "",
        _table(["system", "top-level accuracy, all labelled", "leaf accuracy, all labelled"],
               [[r.metrics.name, _frac(r.all_sections[0], r.all_sections[1]), _frac(r.all_sections[2], r.all_sections[3])]
                for r in runs]), "",
    ]
    if result.truth.reviewed:
        lines += [f"Held-out reviewer verdicts ({len(result.truth.reviewed)} papers of the period, never trained on)"
                  " sharpen precision: among proposals whose relevance is known (labelled or reviewed), the share"
                  " that is relevant:", ""]
        lines += [_table(["system", "judged proposals", "relevant among judged",
                          "relevant among all proposals (lower bound)"],
                         [[r.metrics.name, str(r.metrics.judged), _frac(r.metrics.judged_ok, r.metrics.judged),
                           _frac(r.metrics.judged_ok, r.metrics.proposed)] for r in runs]), ""]
    if runs and runs[0].sweep:
        first = runs[0]
        thr = result.params.get("threshold")
        lines += ["## Other thresholds", "",
                  f"What {first.metrics.name} would have proposed with another relevance threshold (`model.threshold`"
                  f" in lfmwatch.toml; the model's own is {thr}), same budget and dedupe:", ""]
        lines += [_table(["threshold", f"recall@{first.metrics.per_day}/day", "precision (lower bound)",
                          "proposals", "proposals/day"],
                         [[f"{t:g}", _pct(rc), _pct(pr), str(n), f"{n / max(len(result.days), 1):.1f}"]
                          for t, rc, pr, n in first.sweep]), ""]
    if runs and runs[0].curve:
        lines += ["## Daily budget", "", "Recall / precision (lower bound) when at most K papers a day are proposed.", ""]
        header = ["K"] + [r.metrics.name for r in runs]
        rows = []
        for k in SHOWN_BUDGETS:
            row = [str(k)]
            for r in runs:
                hit = [c for c in r.curve if c[0] == k]
                row.append(f"{_pct(hit[0][1])} / {_pct(hit[0][2])}" if hit else "–")
            rows.append(row)
        lines += [_table(header, rows), ""]
        lines += ["## Recall per section", "", "Labelled papers of the period per label section, and the share each"
                  " system proposed (a paper with labels in two sections counts in both).", ""]
        sections = sorted({s for r in runs for s in r.metrics.per_section})
        rows = [[s, str(runs[0].metrics.per_section.get(s, (0, 0))[1])]
                + [_frac(*r.metrics.per_section.get(s, (0, 0))) for r in runs] for s in sections]
        lines += [_table(["section", "labelled"] + [r.metrics.name for r in runs], rows), ""]
    if result.review:
        rv = result.review
        lines += ["## Simulated review", "",
                  f"Every {rv['every']} listing days a reviewer judged the open proposals by the labels (accepted in the"
                  " labelled section, moved when labelled elsewhere, rejected when unlabelled"
                  + (", unless the held-out reviewer verdicts include it" if result.truth.reviewed else "")
                  + "); the decisions were fed back as feedback examples and the model retrained.", ""]
        lines += [_table(["review day", "accepted", "moved", "rejected", "retrained threshold (rule)"],
                         [[r["day"], str(r["accepted"]), str(r["moved"]), str(r["rejected"]),
                           "–" if r.get("threshold") is None else f"{r['threshold']:.3f} ({r.get('rule')})"]
                          for r in rv["rounds"]]), ""]
        fr, re_ = rv["frozen"], rv["reviewed"]
        if fr and re_:
            lines += [f"At the end: recall {_pct(re_[-1][1])} with review vs {_pct(fr[-1][1])} frozen; precision"
                      f" {_pct(re_[-1][2])} vs {_pct(fr[-1][2])}.", ""]
        lines += ["Rejections are evidence: a retrained threshold never stays where the judged proposals above it"
                  " fall short of the target precision (`raised by reviews`). This reviewer rejects every unlabelled"
                  " proposal, and labels are a sample, so it rejects relevant papers too: a strict reviewer, and the"
                  " bot becomes as strict."
                  + ("" if result.truth.reviewed else " With `--reviewed`, held-out verdicts accept the unlabelled"
                     " papers a reviewer included."), ""]
    lines += ["## Plots", ""] + [f"![{Path(i).stem}]({Path(i).name})" for i in images] + [""]
    if result.timings:
        lines += ["## Timings (seconds, this machine)", ""]
        lines += [_table(["step", "seconds"], [[k, f"{v:.1f}"] for k, v in result.timings.items()]), ""]
    return "\n".join(lines)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise LfmwatchError("the backtest plots need matplotlib", "pip install 'lfmwatch[plots]'") from exc
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _color(name: str) -> str:
    return COLORS.get(name, "#7f7f7f")


def plot_budget(result: BacktestResult, path: Path) -> None:
    """Recall and precision (lower bound) against the daily budget K for every system."""
    plt = _pyplot()
    fig, (ax_r, ax_p) = plt.subplots(1, 2, figsize=(11, 4.2))
    for run in result.systems.values():
        ks = [c[0] for c in run.curve]
        ax_r.plot(ks, [c[1] for c in run.curve], marker="o", ms=3, label=run.metrics.name, color=_color(run.metrics.name))
        ax_p.plot(ks, [c[2] for c in run.curve], marker="o", ms=3, label=run.metrics.name, color=_color(run.metrics.name))
        rk = [r for r in run.ranking if r[0] in set(ks)]
        ax_r.plot([r[0] for r in rk], [r[1] for r in rk], ls=":", lw=1.5, color=_color(run.metrics.name))
    k = result.params.get("per_day")
    for ax, title in ((ax_r, "Recall of labelled papers"), (ax_p, "Precision (lower bound: labelled / proposed)")):
        ax.axvline(k, color="#999999", ls="--", lw=1)
        ax.set_xlabel("daily budget K (papers proposed per day at most)")
        ax.set_title(title)
        ax.set_ylim(0, 1.05)
        ax.set_xticks([1, 5, 10, 15, 20])
        ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    handles, labels = ax_r.get_legend_handles_labels()
    handles += [Line2D([], [], color="#555555", marker="o", ms=3), Line2D([], [], color="#555555", ls=":")]
    labels += ["proposed (threshold + budget)", "top K by score, no threshold"]
    # Below the panels: inside, it would hide the curves that climb to the lower right.
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(f"Daily budget, {result.params.get('from')} .. {result.params.get('to')} (dashed: K={k})")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sections(result: BacktestResult, path: Path) -> None:
    """Horizontal bars: recall per label section for every system."""
    plt = _pyplot()
    runs = list(result.systems.values())
    sections = sorted({s for r in runs for s in r.metrics.per_section})
    fig, ax = plt.subplots(figsize=(10, 0.55 * max(len(sections), 2) * max(len(runs), 1) / 2 + 1.5))
    height = 0.8 / max(len(runs), 1)
    for j, run in enumerate(runs):
        vals = [run.metrics.per_section.get(s, (0, 0)) for s in sections]
        ys = [i - 0.4 + height * (j + 0.5) for i in range(len(sections))]
        ax.barh(ys, [f / n if n else 0 for f, n in vals], height=height, label=run.metrics.name,
                color=_color(run.metrics.name))
        # Print found/n at every bar, so a system that found nothing shows "0/n", not a gap.
        for y, (f, n) in zip(ys, vals, strict=True):
            ax.text((f / n if n else 0) + 0.01, y, f"{f}/{n}", va="center", fontsize=7)
    n_of = {s: runs[0].metrics.per_section.get(s, (0, 0))[1] for s in sections}
    ax.set_yticks(range(len(sections)))
    ax.set_yticklabels([f"{_short(s)}  (n={n_of[s]})" for s in sections], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)  # room for the "found/n" text after a full bar
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlabel(f"recall within the daily budget (K={result.params.get('per_day')})")
    ax.set_title("Recall per label section (n = labelled papers in the period)")
    ax.grid(axis="x", alpha=0.3)
    # Below the axis label, never on top of the bars.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(runs), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(section: str, width: int = 48) -> str:
    # Keep the leaf readable: drop middle levels first, then cut.
    parts = section.split(" > ")
    text = section if len(section) <= width or len(parts) < 3 else f"{parts[0]} > … > {parts[-1]}"
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_per_day(result: BacktestResult, path: Path) -> None:
    """Proposals per day, one panel per system, with the daily budget as a line."""
    plt = _pyplot()
    runs = list(result.systems.values())
    fig, axes = plt.subplots(len(runs), 1, figsize=(11, 1.9 * len(runs) + 0.8), sharex=True, squeeze=False)
    k = result.params.get("per_day")
    for ax, run in zip(axes[:, 0], runs, strict=True):
        m = run.metrics
        ax.bar(range(len(m.counts)), m.counts, width=1.0, color=_color(m.name))
        ax.axhline(k, color="#999999", ls="--", lw=1)
        ax.set_ylim(0, (k or 1) * 1.15)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("papers")
        ax.set_title(f"{m.name}: median {m.day_median:g}, max {m.day_max}, total {m.proposed}", fontsize=9, loc="left")
    days = result.days
    step = max(len(days) // 8, 1)
    axes[-1, 0].set_xticks(range(0, len(days), step))
    axes[-1, 0].set_xticklabels([days[i] for i in range(0, len(days), step)], fontsize=8)
    fig.suptitle(f"Proposals per listing day (dashed: budget K={k})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning(result: BacktestResult, path: Path) -> None:
    """Cumulative recall and precision over the period: frozen systems and, with --review, the reviewed model."""
    plt = _pyplot()
    every = (result.review or {}).get("every") or 7
    days_seq: list[tuple[str, list[Any]]] = [(d, []) for d in result.days]
    series = [(r.metrics.name, learning_curve(r.proposals, result.truth, days_seq, every))
              for r in result.systems.values()]
    if result.review:
        series.insert(1, (result.review["metrics"]["system"], result.review["reviewed"]))
    fig, (ax_r, ax_p) = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for name, curve in series:
        xs = list(range(len(curve)))
        style: dict[str, Any] = {"color": _color(name), "marker": "o", "ms": 3, "label": name}
        if result.review and name == series[0][0]:
            style.update(lw=4, alpha=0.45)  # the frozen model: wide and pale, visible under the reviewed line
        if name.endswith("+ review"):
            # Dashed with square markers: it starts on top of the frozen line and must stay visible there.
            style.update(ls="--", marker="s", ms=4, lw=2)
        ax_r.plot(xs, [c[1] for c in curve], **style)
        ax_p.plot(xs, [c[2] for c in curve], **style)
    labels = [c[0] for c in series[0][1]] if series else []
    step = max(len(labels) // 6, 1)
    for ax, title in ((ax_r, "Cumulative recall"), (ax_p, "Cumulative precision (lower bound)")):
        ax.set_xticks(range(0, len(labels), step))
        ax.set_xticklabels([labels[i] for i in range(0, len(labels), step)], rotation=30, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
        ax.set_title(title)
    handles, labels = ax_r.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    what = f"review every {every} days" if result.review else f"no review (--review K to simulate one); points every {every} days"
    fig.suptitle(f"Learning curve: {what}")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: BacktestResult, out_dir: str | Path) -> list[Path]:
    """Write report.md, metrics.json and the PNGs into `out_dir`; returns the paths, report.md first."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the report directory: {exc.strerror or exc}") from exc
    images: list[Path] = []
    if any(r.curve for r in result.systems.values()):
        for name, fn in (("budget.png", plot_budget), ("section_recall.png", plot_sections),
                         ("proposals_per_day.png", plot_per_day), ("learning_curve.png", plot_learning)):
            fn(result, out / name)
            images.append(out / name)
    else:
        plot_per_day(result, out / "proposals_per_day.png")
        images.append(out / "proposals_per_day.png")
    report = out / "report.md"
    report.write_text(report_markdown(result, [str(i) for i in images]), encoding="utf-8")
    metrics = out / "metrics.json"
    metrics.write_text(json.dumps(result.numbers(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return [report, metrics, *images]
