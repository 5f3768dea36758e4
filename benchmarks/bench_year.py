"""A year unattended: replay 365 days at 1,500 papers/day through the store and retention, and measure state.db and
the bot repository's growth.

Each simulated day: 1,500 papers of the shared corpus (recycled, with new ids and the day's date) are upserted,
classified with the default model, up to 10 relevant ones are proposed (the ledger), a week later half of them are
accepted and half rejected (feedback), a `run` row is recorded (and a `digest` row weekly), then
`compact` applies the retention of the default configuration. After compaction state.db is pushed with
scripts/state_branch.sh to a local bare "bot repository", exactly as the workflows do. Prints the size curve.

    python benchmarks/bench_year.py [--days 365] [--per-day 1500] [--data ../shared/data]
    python benchmarks/bench_year.py --corpus      # import the whole shared corpus, classify, seed a ledger, compact

Needs ../shared/data/arxiv-corpus.jsonl.gz (skips cleanly without it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CORPUS = DATA / "arxiv-corpus.jsonl.gz"
LABELS = DATA / "lfm-labels.jsonl"
MB = 2**20


def load_corpus(categories: tuple[str, ...] = (), limit: int | None = None) -> list[dict]:
    """Title, abstract, authors and categories of the shared corpus (only papers in `categories` when given:
    the poll fetches nothing else)."""
    out = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if categories and not set(categories) & set(r.get("categories") or ()):
                continue
            out.append({"title": r["title"], "abstract": r["abstract"], "authors": r.get("authors") or [],
                        "categories": r.get("categories") or ["cs.LG"], "comment": r.get("comment")})
            if limit and len(out) >= limit:
                break
    return out


def default_model():  # type: ignore[no-untyped-def]
    """The packaged default model (models/ of this checkout)."""
    from lfmwatch.model.io import load_model

    return load_model(ROOT / "models" / "lfm-model.npz")


def git_size(repo: Path) -> int:
    """Bytes of the repository's objects after `git gc --prune=now` (what stays reachable)."""
    subprocess.run(["git", "gc", "--quiet", "--prune=now"], cwd=repo, check=True)
    return sum(p.stat().st_size for p in (repo / "objects").rglob("*") if p.is_file())


def year(days: int, per_day: int, push_every: int = 7) -> int:
    """The simulated year (see the module docstring)."""
    from lfmwatch.config import Config
    from lfmwatch.run.classify import classify_store
    from lfmwatch.store.db import Store, utcnow
    from lfmwatch.store.ledger import record_feedback, set_proposal_status
    from lfmwatch.store.papers import upsert_papers
    from lfmwatch.store.retention import RetentionPolicy, compact, store_bytes

    policy = RetentionPolicy.from_config(Config())
    corpus = load_corpus(policy.categories)
    model = default_model()
    print(f"corpus {len(corpus)} papers recycled; model {model.version}; policy {policy}")
    start = date(2027, 1, 4)
    tmp = Path(tempfile.mkdtemp(prefix="bench_year_"))
    bare, work = tmp / "bot.git", tmp / "bot"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    script = ["bash", str(ROOT / "scripts" / "state_branch.sh")]
    subprocess.run([*script, "pull"], cwd=work, check=True, capture_output=True)
    pushed_bytes = pushes = 0
    t_all = time.perf_counter()
    store = Store(work / "state.db")
    seq: dict[str, int] = {}
    pending: list[tuple[date, list[str]]] = []
    try:
        for d in range(days):
            day = start + timedelta(days=d)
            prefix = f"{day:%y%m}"
            batch = []
            for i in range(per_day):
                src = corpus[(d * per_day + i) % len(corpus)]
                n = seq.get(prefix, 0)
                seq[prefix] = n + 1
                batch.append({**src, "id": f"{prefix}.{n:05d}", "listed": day.isoformat(), "published": day.isoformat()})
            upsert_papers(store, batch, "arxiv")
            counts = classify_store(store, model)
            # select.max_per_run (10) a day, select.max_per_pr (40) in the week's pull request.
            room = min(10, 40 - sum(len(ids) for _, ids in pending if (day - _).days < day.weekday() + 1))
            picks = [r[0] for r in store.db.execute(
                "SELECT r.paper_id FROM predictions r LEFT JOIN proposals p ON p.paper_id = r.paper_id "
                "WHERE r.relevant = 1 AND p.paper_id IS NULL ORDER BY r.score DESC LIMIT ?", [max(0, room)])]
            for pid in picks:
                set_proposal_status(store, pid, "proposed", pr_number=d // 7 + 1, proposed_at=utcnow())
            pending.append((day, picks))
            if pending and (day - pending[0][0]).days >= 7:  # a week later the maintainers decide
                _, ids = pending.pop(0)
                for k, pid in enumerate(ids):
                    label = "accepted" if k % 2 == 0 else "rejected"
                    set_proposal_status(store, pid, label)
                    record_feedback(store, pid, label, f"pr#{d // 7}", section="Model Reuse")
            run_id = store.start_run("run")
            store.finish_run(run_id, "ok", counts={"classify": counts, "proposed": len(picks)}, new=per_day)
            if day.weekday() == 0:
                store.db["digests"].insert({"week": f"{day:%G-W%V}", "status": "sent", "papers": 20,
                                            "created": utcnow(), "sent_at": utcnow()})
            report = compact(store, policy, today=day)
            if d % push_every != push_every - 1 and d != days - 1:
                continue
            before = _objects_bytes(bare)
            res = subprocess.run([*script, "push"], cwd=work, capture_output=True, text=True,
                                 env={"PATH": "/usr/bin:/bin", "STATE_MESSAGE": f"day {d + 1}"})
            if res.returncode:
                print(res.stdout, res.stderr)
                return 1
            pushed_bytes += _objects_bytes(bare) - before
            pushes += 1
            if d % 28 == 27:
                git_size(bare)  # GitHub also collects unreachable objects (on its own schedule)
                subprocess.run(["git", "gc", "--quiet", "--prune=now"], cwd=work, check=True)
            kept = store.db.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
            ledger = store.db.execute("SELECT COUNT(*) FROM proposals").fetchone()[0]
            print(f"day {d + 1:3d} {day}: state.db {store_bytes(store) / MB:5.1f} MB, {kept} papers kept "
                  f"({report.papers_dropped} dropped today), {ledger} proposals, "
                  f"{time.perf_counter() - t_all:.0f} s", flush=True)
        final = store_bytes(store)
    finally:
        store.close()
    repo = git_size(bare)
    print(f"after {days} days: state.db {final / MB:.1f} MB; bot repository (bare, after gc) {repo / MB:.1f} MB "
          f"reachable; {pushed_bytes / MB:.0f} MB pushed in {pushes} pushes ({pushed_bytes / max(pushes, 1) / MB:.1f} MB "
          f"each, unreachable once replaced)")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _objects_bytes(repo: Path) -> int:
    return sum(p.stat().st_size for p in (repo / "objects").rglob("*") if p.is_file())


def corpus_compact() -> int:
    """Import the whole shared corpus, classify it, seed a ledger, compact; check that nothing decided is lost."""
    from lfmwatch.config import Config
    from lfmwatch.ingest.importer import import_jsonl
    from lfmwatch.run.classify import classify_store
    from lfmwatch.store.db import Store
    from lfmwatch.store.ledger import record_feedback, set_proposal_status
    from lfmwatch.store.retention import RetentionPolicy, compact, store_bytes

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "state.db") as store:
        t0 = time.perf_counter()
        import_jsonl(store, CORPUS)
        classify_store(store, default_model())
        print(f"imported and classified {store.db['papers'].count} papers: {store_bytes(store) / MB:.1f} MB "
              f"({time.perf_counter() - t0:.0f} s)")
        ids = [r[0] for r in store.db.execute("SELECT id FROM papers ORDER BY id")]
        labelled = []
        if LABELS.exists():
            known = set(ids)
            labelled = [json.loads(x)["id"] for x in LABELS.read_text(encoding="utf-8").splitlines() if x.strip()]
            labelled = [i for i in labelled if i in known]
        for pid in labelled:
            record_feedback(store, pid, "accepted", "labels", section="x")
        for pid in ids[::997]:
            set_proposal_status(store, pid, "ignored")
        for pid in ids[5::499]:
            set_proposal_status(store, pid, "proposed", pr_number=1)
        for k, pid in enumerate(ids[7::1999]):
            record_feedback(store, pid, "rejected" if k % 2 else "moved", "pr#1", section="x")
        decided = {r[0] for r in store.db.execute("SELECT paper_id FROM proposals UNION SELECT paper_id FROM feedback")}
        t0 = time.perf_counter()
        report = compact(store, RetentionPolicy.from_config(Config()))
        kept = {r[0] for r in store.db.execute("SELECT id FROM papers")}
        print(f"compact: dropped {report.papers_dropped} of {report.papers_before} papers "
              f"({time.perf_counter() - t0:.0f} s): {report.bytes_before / MB:.1f} MB -> {report.bytes_after / MB:.1f} MB; "
              f"kept by rule {report.kept_by}")
        lost = decided - kept
        print(f"{len(decided)} ignored/proposed/fed-back papers ({len(labelled)} labelled): "
              f"{len(decided) - len(lost)} still known, {len(lost)} lost")
        return 1 if lost or report.bytes_after >= 25 * MB else 0


def main() -> int:
    """Parse arguments and run one of the two measurements."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--per-day", type=int, default=1500)
    ap.add_argument("--push-every", type=int, default=7, help="push state.db every N simulated days")
    ap.add_argument("--corpus", action="store_true", help="whole shared corpus: import, classify, compact")
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data directory")
    args = ap.parse_args()
    global CORPUS, LABELS
    CORPUS, LABELS = args.data / "arxiv-corpus.jsonl.gz", args.data / "lfm-labels.jsonl"
    if not CORPUS.exists():
        print(f"skipped: {CORPUS} is not present")
        return 0
    return corpus_compact() if args.corpus else year(args.days, args.per_day, args.push_every)


if __name__ == "__main__":
    sys.exit(main())
