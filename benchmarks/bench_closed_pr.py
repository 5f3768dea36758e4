"""What closing a PR teaches, on the real data: a weak negative (`closed`) against the old hard negative.

    python benchmarks/bench_closed_pr.py [--data ../shared/data] [--models models] [--stream 5000] [--papers 10]

Like bench_retrain.py (README on the GitHub fake, the newest `--stream` corpus papers in the store, the committed
bundle), the committed model picks the `--papers` stored papers it scores highest (the papers it would propose);
they go into a pull request that a maintainer closes. The model is then retrained from the same sources twice: with
those papers recorded as `closed` (this version: a weak negative, weighted like an unlabelled paper) and as
`rejected` (what a closed PR recorded before: a hard negative). Prints their scores under the committed model and
under each retrained model, and how many stay above the retrained model's threshold.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Run the two retrains and print the closed papers' scores."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_retrain import arguments

    ap = arguments()
    ap.add_argument("--papers", type=int, default=10)
    args = ap.parse_args()
    from fakes.github_fake import GitHubFake
    from lfmwatch.config import config_from_dict
    from lfmwatch.model.fit import fit_model
    from lfmwatch.model.io import load_model
    from lfmwatch.run.retrain import deployment_examples, readme_from_github
    from lfmwatch.store.db import Store
    from lfmwatch.store.ledger import record_feedback
    from lfmwatch.store.papers import upsert_papers

    champion = load_model(args.models / "lfm-model.npz")
    lines = gzip.open(args.data / "arxiv-corpus.jsonl.gz", "rt", encoding="utf-8").read().splitlines()
    stream = [json.loads(x) for x in lines[-args.stream:]]
    preds = champion.predict(stream)
    top = sorted(range(len(stream)), key=lambda i: -preds[i]["score"])[: args.papers]
    closed = [stream[i] for i in top]
    print(f"closed PR: {len(closed)} papers, committed model's scores "
          + ", ".join(f"{preds[i]['score']:.3f}" for i in top))
    with tempfile.TemporaryDirectory() as tmp, GitHubFake() as fake:
        fake.add_token("t", "bot", push=set())
        fake.create_repo("lfm/awesome", {"README.md": (args.data / "awesome-lfm" / "README.md").read_text()})
        os.environ.update(GITHUB_API_URL=fake.url, GITHUB_TOKEN="t")
        config = config_from_dict({"target": {"repo": "lfm/awesome"}})
        config.model.bundle = str(args.models / "lfm-bundle.jsonl.gz")
        for label in ("closed", "rejected"):
            db = Path(tmp) / f"{label}.db"
            with Store(db) as store:
                upsert_papers(store, stream, "import")
                store.db["pull_requests"].insert({"number": 1, "repo": "lfm/awesome", "branch": "lfmwatch/papers",
                                                  "state": "closed"})
                for p in closed:
                    record_feedback(store, p["id"], label, "pr#1", proposed_section=preds[0]["section"])
                if label == "rejected":  # the old rule: every paper of a closed PR a hard negative
                    store.db.execute("UPDATE pull_requests SET state = 'merged'")
                text, where = readme_from_github(config, session := _session(config))
                session.close()
                examples, info = deployment_examples(store, config, text, where, fetch_missing=False)
            model = fit_model(examples, sections=info["sections"], unlabelled_seen=info["unlabelled_seen"],
                              target_precision=config.model.target_precision)
            after = [p["score"] for p in model.predict(closed)]
            kept = sum(1 for s in after if s >= model.threshold)
            print(f"retrained with the closed PR as {label!r} "
                  f"({'weak negative' if label == 'closed' else 'hard negative, the old rule'}): scores "
                  f"{', '.join(f'{s:.3f}' for s in after)}; median {statistics.median(after):.3f}; "
                  f"{kept} of {len(after)} above its threshold {model.threshold:.3f}")
    print("command: python benchmarks/bench_closed_pr.py " + " ".join(sys.argv[1:]))


def _session(config: Any) -> Any:
    from lfmwatch.adapters.github import GitHubSettings, connect

    return connect(GitHubSettings.from_config(config))


if __name__ == "__main__":
    main()
