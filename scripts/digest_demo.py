#!/usr/bin/env python3
"""Build a real-looking digest from the shared corpus in a throw-away store, then screenshot it.

    python scripts/digest_demo.py --week 2025-W30 --workdir /tmp/lfmdemo [--model models/lfm-model.npz
        --threshold 0.5] [--fake-llm]

Steps: copy the corpus papers of the week and the four weeks before into `workdir` (never into the repo),
`lfmwatch import` them, predict (with `lfmwatch classify` when a model is given, else with the crude keyword
rules below, which exist only for this demo), mark two of the week's papers as merged, optionally serve
summaries from the loopback OpenAI fake, run `lfmwatch digest --week W --out workdir/out`, and render the
HTML with scripts/screenshot_digest.py.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "arxiv-corpus.jsonl.gz"

# Demo-only stand-in for a model: a few phrases per section of the LFM list.
RULES = [
    (r"model merging|merging (?:of )?(?:models|llms|experts|adapters)|task arithmetic|weight averaging|model soup",
     "Model Reuse > Model Fusion > Weight Interpolation"),
    (r"mixture[- ]of[- ]experts.*merg|moerging", "Model Reuse > Model Fusion > MoE Based Method (Model MoErging)"),
    (r"\bensembl\w+ of (?:llms|language models)|llm ensemble", "Model Reuse > Model Ensemble"),
    (r"\blora\b|low-rank adaptation|adapter tuning|parameter-efficient fine-tuning|\bpeft\b",
     "Model Tuning > Weight Enginerring > Adapter Tuning"),
    (r"prompt tuning|soft prompts?|prefix tuning", "Model Tuning > Input engineering > Prompt Tuning"),
    (r"instruction tuning|instruction-tuned data", "Model Tuning > Input engineering > Instruction Tuning"),
    (r"knowledge distillation|distil\w+ (?:from|into) (?:a )?(?:smaller|student)", "Model Distillation > Generative Reconstruction"),
    (r"data-free", "Model Distillation > Noise Optimization"),
    (r"knowledge editing|model editing|editing (?:large )?language models", "Model Editing > Parameter Based Model Editing > Locate And Edit"),
    (r"multimodal retrieval-augmented|multimodal rag|visual rag", "Database Augmentation > Multimodal Database Augmentation"),
    (r"retrieval-augmented generation|\brag\b", "Database Augmentation > Language Database Augmentation"),
]


def week_monday(week: str) -> date:
    """Monday of an ISO week YYYY-Www."""
    year, num = week.split("-W")
    return date.fromisocalendar(int(year), int(num), 1)


def subset(first: date, last: date, out: Path) -> int:
    """Copy the corpus lines listed in [first, last] to `out`."""
    n = 0
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f, out.open("w", encoding="utf-8") as w:
        for line in f:
            listed = json.loads(line).get("listed") or ""
            if first.isoformat() <= listed <= last.isoformat():
                w.write(line)
                n += 1
            elif listed > last.isoformat():
                break
    return n


def keyword_predictions(db: Path) -> int:
    """Insert demo predictions from RULES (model_version "keywords-demo")."""
    conn = sqlite3.connect(db)
    rows = []
    for pid, title, abstract in conn.execute("SELECT id, title, abstract FROM papers"):
        text = f"{title} {abstract}".lower()
        hits = [(len(re.findall(rx, text)), section) for rx, section in RULES if re.search(rx, text)]
        if hits:
            n, section = max(hits)
            in_title = any(re.search(rx, title.lower()) for rx, s in RULES if s == section)
            score = min(0.99, 0.45 + 0.12 * n + (0.25 if in_title else 0))
            relevant = int(score >= 0.7)
        else:
            section, score, relevant = None, 0.02, 0
        rows.append((pid, "keywords-demo", relevant, score, section, score, "[]", "[]", "2025-01-01T00:00:00+00:00"))
    conn.executemany("INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    return sum(r[2] for r in rows)


def mark_merged(db: Path, first: date, last: date) -> None:
    """Pretend the two best papers of the week were merged into the list on its Saturday (demo only)."""
    conn = sqlite3.connect(db)
    best = conn.execute(
        "SELECT p.id, pr.section FROM papers p JOIN predictions pr ON pr.paper_id = p.id WHERE pr.relevant = 1 "
        "AND p.listed BETWEEN ? AND ? AND pr.section IS NOT NULL ORDER BY pr.score DESC, p.id LIMIT 2",
        [first.isoformat(), last.isoformat()]).fetchall()
    for pid, section in best:
        conn.execute("INSERT OR IGNORE INTO feedback (paper_id, label, section, source, created) VALUES (?, ?, ?, ?, ?)",
                     [pid, "accepted", section, "demo", f"{(last - timedelta(days=1)).isoformat()}T12:00:00+00:00"])
    conn.commit()


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--week", default="2025-W30")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/lfmwatch-digest-demo"))
    ap.add_argument("--model", type=Path, default=None, help="a fitted model for `lfmwatch classify`")
    ap.add_argument("--threshold", type=float, default=-1.0)
    ap.add_argument("--fake-llm", action="store_true", help="summaries from tests/fakes/openai_fake.py")
    args = ap.parse_args()
    if not CORPUS.exists():
        sys.exit(f"{CORPUS} not found")
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    db = work / "state.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    monday = week_monday(args.week)
    first, last = monday - timedelta(days=28), monday + timedelta(days=6)
    print("papers:", subset(first, last, work / "subset.jsonl"))
    env = {**os.environ, "LFMWATCH_DB": str(db)}
    config = ['[digest]', 'recipients = ["reader@example.org"]',
              'list_unsubscribe = "mailto:lfm-digest-unsubscribe@example.org"']
    if args.model:
        config += ["[model]", f'path = "{args.model.resolve()}"', f"threshold = {args.threshold}"]
    if args.fake_llm:
        config += ["[summaries]", "enabled = true", "max_retries = 0", "timeout_seconds = 5"]
    (work / "lfmwatch.toml").write_text("\n".join(config) + "\n")
    lfm = [sys.executable, "-m", "lfmwatch"]
    subprocess.run([*lfm, "import", str(work / "subset.jsonl")], check=True, cwd=work, env=env)
    if args.model:
        subprocess.run([*lfm, "classify"], check=True, cwd=work, env=env)
    else:
        print("relevant (keyword rules):", keyword_predictions(db))
    mark_merged(db, monday, last)
    fake = None
    if args.fake_llm:
        sys.path.insert(0, str(ROOT / "tests"))
        from fakes.openai_fake import OpenAIFake, answer

        def reply(body: dict) -> object:
            title = re.search(r"Title: (.*)", body["messages"][1]["content"]).group(1)
            short = re.split(r"[:—-]", title)[0].strip()
            return answer(f"Shows how {short} lets practitioners reuse pretrained models at a fraction of the "
                          "usual training cost.")

        fake = OpenAIFake(reply).start()
        env["OPENAI_BASE_URL"] = fake.base_url
    try:
        subprocess.run([*lfm, "digest", "--week", args.week, "--out", str(work / "out")], check=True, cwd=work, env=env)
    finally:
        if fake is not None:
            fake.close()
    html = work / "out" / f"digest-{args.week}.html"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshot_digest.py"), str(html)], check=True)


if __name__ == "__main__":
    main()
