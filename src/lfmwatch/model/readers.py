"""Readers of training input: files (labels, reviews, JSONL corpora, the README), the store's feedback, arXiv.

Everything here does IO; the examples they build (`TrainingExample`) and the pure helpers live in examples.py.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lfmwatch.errors import InputError
from lfmwatch.model.examples import TrainingExample, example, fill_texts, mark_stream, readme_entries

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.store.db import Store

log = logging.getLogger(__name__)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or None when the line is not JSON) for each non-blank line; gzip is read too."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found", "check the path")
    try:
        # gzip by its magic bytes, not its name; bytes in, so a line that is not UTF-8 is one bad line.
        with open(p, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        opener: Callable[..., Any] = gzip.open if gz else open
        with opener(p, "rb") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError):  # RecursionError: nested too deeply, one bad line
                    obj = None
                yield n, obj
    except (OSError, EOFError) as exc:
        raise InputError(f"{p}: cannot read: {exc}", "check the file is JSONL (optionally gzip-compressed)") from exc


def read_readme(path: str | Path) -> str:
    """The list's README as text; InputError (with the path) when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InputError(f"{path}: cannot read the README: {reason}") from exc


def label_examples(path: str | Path) -> list[TrainingExample]:
    """Examples from a label JSONL file (`id`, `section`, optional `title`, `abstract`, `precision`)."""
    out = []
    for n, obj in read_jsonl(path):
        if not isinstance(obj, dict) or not obj.get("id") or not obj.get("section"):
            log.warning("%s:%d: skipping a label without id and section", path, n)
            continue
        kind = "label_top" if obj.get("precision") == "top" else "label"
        out.append(example(str(obj["id"]), obj.get("title"), obj.get("abstract"), str(obj["section"]), kind))
    return out


def reviewed_examples(path: str | Path) -> list[TrainingExample]:
    """Examples from a reviewed JSONL file (`id`, `include`, `section`); text is filled in later."""
    out = []
    for n, obj in read_jsonl(path):
        if not isinstance(obj, dict) or not obj.get("id") or not isinstance(obj.get("include"), bool):
            log.warning("%s:%d: skipping a review without id and include", path, n)
            continue
        if obj["include"]:
            out.append(example(str(obj["id"]), obj.get("title"), obj.get("abstract"), obj.get("section"),
                               "reviewed_pos"))
        else:
            out.append(example(str(obj["id"]), obj.get("title"), obj.get("abstract"), None, "reviewed_neg"))
    return out


def feedback_examples(store: Store) -> list[TrainingExample]:
    """Examples from the store's feedback, with the weights of the README's rules ("How the bot learns").

    - accepted (a merge that kept the line where the bot put it) -> positive in that section;
    - moved (the line ended in another section, or a `/lfmwatch move`) -> positive in the new section;
    - rejected (a reviewer removed the line) and ignored (`/lfmwatch ignore`, `lfmwatch ignore`) -> hard negative;
    - closed (the paper was only in a pull request closed as a whole; also a legacy `rejected` row of a closed
      pull request) -> weak negative (`feedback_closed`, weighted like an unlabelled paper), unless the paper was
      also rejected line by line;
    - unignored clears what came before; otherwise the newest decision about a paper wins.
    """
    from lfmwatch.store.training import feedback_outcomes

    latest: dict[str, tuple[str, str | None]] = {}
    for row in feedback_outcomes(store):
        pid, label = row["paper_id"], row["label"]
        if label == "unignored":
            latest.pop(pid, None)
            continue
        if label == "rejected" and row["pr_state"] == "closed":
            label = "closed"  # recorded before closed PRs got their own label: the whole PR was rejected
        if label == "closed" and latest.get(pid, ("",))[0] in ("rejected", "ignored"):
            continue  # a line-by-line rejection is not softened by closing the whole PR afterwards
        if label in ("accepted", "moved", "rejected", "ignored", "closed"):
            latest[pid] = (label, row["section"])
    kinds = {"accepted": "feedback_accepted", "moved": "feedback_moved", "rejected": "feedback_rejected",
             "ignored": "feedback_rejected", "closed": "feedback_closed"}
    return [example(pid, None, None, section if label in ("accepted", "moved") else None, kinds[label])
            for pid, (label, section) in latest.items()]


def iter_corpus(path: str | Path, categories: Sequence[str] | None = None,
                listed_before: str | None = None) -> Iterator[dict[str, Any]]:
    """Papers of a JSONL(.gz) corpus with id/title/abstract, optionally in `categories` and listed before a day."""
    cats = set(categories or ())
    for _, obj in read_jsonl(path):
        if not isinstance(obj, dict) or not obj.get("id") or not obj.get("title"):
            continue
        if cats and not cats.intersection(obj.get("categories") or ()):
            continue
        if listed_before and (obj.get("listed") or "") >= listed_before:
            continue
        yield obj


def collect_examples(
    config: Config,
    *,
    store: Store | None = None,
    readme: str | Path | None = None,
    labels: Sequence[str | Path] = (),
    reviewed: str | Path | None = None,
    corpus: str | Path | None = None,
    fetch_missing: bool = True,
    listed_before: str | None = None,
    exclude_ids: Iterable[str] = (),
    known_texts: Mapping[str, Mapping[str, Any]] | None = None,
    max_unlabelled: int | None = None,
) -> tuple[list[TrainingExample], dict[str, Any]]:
    """All training examples from the given sources plus store feedback and negatives; returns (examples, info).

    Negatives come from the corpus when given, else from the store's papers; only papers in
    `config.arxiv.categories` (and listed before `listed_before`, when set) are used; `exclude_ids` are never used.
    `known_texts` (id -> paper) supplies titles/abstracts before the store or the arXiv API are asked.
    `max_unlabelled` keeps a seeded uniform sample of that many unlabelled papers (reservoir: bounded memory).
    """
    excluded = set(exclude_ids)
    info: dict[str, Any] = {"sources": {}}
    examples: list[TrainingExample] = []
    sections: list[str] = []
    if readme is not None:
        entries, sections = readme_entries(read_readme(readme), config.target.exclude_sections)
        examples += [example(pid, title, None, section, "list") for pid, section, title in entries]
        info["sources"]["readme"] = {"path": str(readme), "entries": len(entries)}
    for path in labels:
        rows = label_examples(path)
        examples += rows
        info["sources"].setdefault("labels", []).append({"path": str(path), "rows": len(rows)})
    if reviewed is not None:
        rows = reviewed_examples(reviewed)
        examples += rows
        info["sources"]["reviewed"] = {"path": str(reviewed), "rows": len(rows)}
    if store is not None:
        rows = feedback_examples(store)
        examples += rows
        info["sources"]["feedback"] = {"rows": len(rows)}
    examples = [ex for ex in examples if ex.id not in excluded]
    labelled = {ex.id for ex in examples}
    # Text for labelled papers and the pool of negatives, in one pass over the corpus or the store.
    known: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (known_texts or {}).items() if k in labelled}
    negatives: list[TrainingExample] = []
    seen_unlabelled = 0
    rng = random.Random(0)
    cats = config.arxiv.categories
    if corpus is not None:
        pool: Iterable[Mapping[str, Any]] = iter_corpus(corpus)
    elif store is not None:
        from lfmwatch.store.papers import iter_papers

        pool = iter_papers(store)
    else:
        pool = ()
    stream_ids: set[str] = set()
    for paper in pool:
        pid = str(paper["id"])
        in_stream = not (cats and not set(cats).intersection(paper.get("categories") or ())) and not (
            listed_before and (paper.get("listed") or "") >= listed_before)
        if pid in labelled:
            if paper.get("abstract") or pid not in known:
                known[pid] = dict(paper)
            if in_stream:
                stream_ids.add(pid)  # a labelled paper of the stream: what the threshold's PU estimate needs
            continue
        if pid in excluded or not in_stream:
            continue
        seen_unlabelled += 1
        item = example(pid, paper.get("title"), paper.get("abstract"), None, "negative")
        if max_unlabelled is None or len(negatives) < max_unlabelled:
            negatives.append(item)
        else:
            j = rng.randrange(seen_unlabelled)
            if j < max_unlabelled:
                negatives[j] = item
    if store is not None and corpus is not None:
        from lfmwatch.store.papers import get_papers

        known.update({k: v for k, v in get_papers(store, labelled - set(known)).items()})
    fetch = arxiv_fetcher(config) if fetch_missing else None
    examples, counts = fill_texts(mark_stream(examples, stream_ids), known, fetch)
    info["text"] = counts
    info["stream_labelled"] = len(stream_ids)
    info["negatives"] = len(negatives)
    info["unlabelled_seen"] = seen_unlabelled
    info["sections"] = sections
    return examples + negatives, info


def arxiv_fetcher(config: Config) -> Callable[[list[str]], Iterable[Mapping[str, Any]]] | None:
    """fetch(ids) through the arXiv API, or None when the client is unavailable; failures degrade to title-only."""
    try:
        from lfmwatch.adapters.arxiv import ArxivSource
    except ImportError:  # pragma: no cover - the client ships with the package
        return None

    def fetch(ids: list[str]) -> Iterable[Mapping[str, Any]]:
        from lfmwatch.errors import LfmwatchError

        try:
            return ArxivSource.from_config(config).fetch_ids(ids)
        except LfmwatchError as exc:
            log.warning("could not fetch %d abstracts from arXiv (%s); training on their titles only", len(ids), exc)
            return []

    return fetch
