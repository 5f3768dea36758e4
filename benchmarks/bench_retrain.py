"""The deployment retrain on the real data: `lfmwatch train` without data arguments, as the weekly workflow runs it.

    python benchmarks/bench_retrain.py [--data ../shared/data] [--models models] [--stream 5000]

In a temporary bot-repo copy (no ../shared): the list's README is served by the GitHub fake (tests/fakes), the
store holds the newest `--stream` corpus papers, models/ holds copies of the committed model (the champion) and
bundle. Runs the gated retrain once and prints its verdict, both models' figures on the judged papers, the
threshold decision, the effect on the store, the wall time and the peak memory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def arguments() -> argparse.ArgumentParser:
    """--data, --models, --stream (shared with bench_closed_pr.py); the tests' fakes become importable."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--stream", type=int, default=5000)
    sys.path.insert(0, str(ROOT / "tests"))
    return ap


def main() -> None:
    """Run the retrain once and print what it measured."""
    args = arguments().parse_args()
    from fakes.github_fake import GitHubFake
    from lfmwatch.config import config_from_dict
    from lfmwatch.run.retrain import run_retrain
    from lfmwatch.store.db import Store
    from lfmwatch.store.papers import upsert_papers

    with tempfile.TemporaryDirectory() as tmp, GitHubFake() as fake:
        fake.add_token("t", "bot", push=set())
        fake.create_repo("lfm/awesome", {"README.md": (args.data / "awesome-lfm" / "README.md").read_text()})
        os.environ.update(GITHUB_API_URL=fake.url, GITHUB_TOKEN="t")
        repo = Path(tmp) / "bot"
        (repo / "models").mkdir(parents=True)
        for name in ("lfm-model.npz", "lfm-model.card.json", "lfm-bundle.jsonl.gz", "lfm-bundle.card.json"):
            shutil.copy(args.models / name, repo / "models" / name)
        os.chdir(repo)
        lines = gzip.open(args.data / "arxiv-corpus.jsonl.gz", "rt", encoding="utf-8").read().splitlines()
        stream = [json.loads(x) for x in lines[-args.stream:]]
        config = config_from_dict({"target": {"repo": "lfm/awesome"}})
        with Store(repo / "state.db") as store:
            upsert_papers(store, stream, "import")
            t0 = time.monotonic()
            outcome = run_retrain(store, config, fetch_missing=False, echo=print,
                                  command="lfmwatch train --no-fetch")
            seconds = time.monotonic() - t0
        s = outcome.summary
        print(outcome.line())
        print(json.dumps({k: s[k] for k in ("verdict", "reasons", "judged", "champion", "challenger", "threshold",
                                            "effect")}, indent=2))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"retrain (fit + gate + effect on {args.stream} stored papers): {seconds:.1f} s wall, "
              f"peak RSS {peak:.0f} MB")
        print("command: python benchmarks/bench_retrain.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
