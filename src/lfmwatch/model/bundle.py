"""The training bundle: what retraining needs from `../shared/data`, compact enough to commit beside the model.

`lfmwatch bundle --data ../shared/data --out models/lfm-bundle.jsonl.gz` writes one gzip JSONL file whose rows are
- `{"kind": "label", id, section, precision, title, abstract, stream}`: curated labels (`lfm-labels.jsonl`);
- `{"kind": "reviewed", id, include, section, title, abstract, stream}`: maintainer-reviewed papers;
- `{"kind": "text", id, title, abstract}`: abstracts of the list's own papers (`upstream-abstracts.jsonl`), so
  the README's entries train on their abstracts, not their titles;
- `{"kind": "unlabelled", id, title, abstract, listed}`: a seeded uniform sample of the corpus's unlabelled papers
  in the configured categories (the negatives of positive-unlabelled training);
- one `{"kind": "meta", ...}` row: how many unlabelled papers the sample was drawn from (for the threshold's
  stream estimate) and the options.
`stream` marks a labelled paper found in the corpus within the categories (the threshold's PU estimate needs it).
The bytes are reproducible (sorted rows, gzip without a timestamp); the card beside it
(`lfm-bundle.card.json`) records the sources with their sha256, the counts, the bundle's sha256 and the command.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lfmwatch.errors import InputError
from lfmwatch.model.examples import TrainingExample, example
from lfmwatch.model.readers import iter_corpus, read_jsonl

SOURCES = {
    "labels": "lfm-labels.jsonl",
    "reviewed": "lfm-reviewed.jsonl",
    "texts": "upstream-abstracts.jsonl",
    "corpus": "arxiv-corpus.jsonl.gz",
}
DEFAULT_UNLABELLED = 6000


def bundle_card_path(path: str | Path) -> Path:
    """The card beside a bundle: models/lfm-bundle.jsonl.gz -> models/lfm-bundle.card.json."""
    p = Path(path)
    name = p.name
    for suffix in (".jsonl.gz", ".jsonl", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".card.json")


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _clean(value: Any) -> str:
    return " ".join(str(value or "").split())


def build_bundle(data_dir: str | Path, categories: Sequence[str], *, unlabelled: int = DEFAULT_UNLABELLED,
                 seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, card) of a bundle built from a shared-data directory (see the module doc)."""
    data = Path(data_dir)
    paths = {key: data / name for key, name in SOURCES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise InputError(f"missing shared data: {', '.join(missing)}", "give --data the directory with the shared data")
    labels = [o for _, o in read_jsonl(paths["labels"]) if isinstance(o, dict) and o.get("id") and o.get("section")]
    reviews = [o for _, o in read_jsonl(paths["reviewed"])
               if isinstance(o, dict) and o.get("id") and isinstance(o.get("include"), bool)]
    texts = {str(o["id"]): o for _, o in read_jsonl(paths["texts"])
             if isinstance(o, dict) and o.get("id") and o.get("abstract")}
    labelled = {str(o["id"]) for o in labels} | {str(o["id"]) for o in reviews}
    cats = set(categories)
    corpus_text: dict[str, dict[str, Any]] = {}
    stream: set[str] = set()
    sample: list[dict[str, Any]] = []
    seen = 0
    rng = random.Random(seed)
    for paper in iter_corpus(paths["corpus"]):
        pid = str(paper["id"])
        in_stream = not cats or bool(cats.intersection(paper.get("categories") or ()))
        if pid in labelled:
            corpus_text[pid] = paper
            if in_stream:
                stream.add(pid)
            continue
        if not in_stream or not paper.get("abstract"):
            continue
        seen += 1
        row = {"kind": "unlabelled", "id": pid, "title": _clean(paper.get("title")),
               "abstract": _clean(paper.get("abstract")), "listed": paper.get("listed")}
        if len(sample) < unlabelled:
            sample.append(row)
        else:
            j = rng.randrange(seen)
            if j < unlabelled:
                sample[j] = row

    def text_of(obj: Mapping[str, Any]) -> tuple[str, str]:
        pid = str(obj["id"])
        known = [obj, corpus_text.get(pid) or {}, texts.get(pid) or {}]
        title = next((_clean(k.get("title")) for k in known if k.get("title")), "")
        abstract = max((_clean(k.get("abstract")) for k in known), key=len)
        return title, abstract

    rows: list[dict[str, Any]] = []
    for o in labels:
        title, abstract = text_of(o)
        rows.append({"kind": "label", "id": str(o["id"]), "section": o["section"], "precision": o.get("precision"),
                     "title": title, "abstract": abstract, "stream": str(o["id"]) in stream})
    for o in reviews:
        title, abstract = text_of(o)
        rows.append({"kind": "reviewed", "id": str(o["id"]), "include": o["include"],
                     "section": o.get("section") if o["include"] else None, "title": title, "abstract": abstract,
                     "stream": str(o["id"]) in stream})
    in_rows = {r["id"] for r in rows if r["abstract"]}
    rows += [{"kind": "text", "id": pid, "title": _clean(o.get("title")), "abstract": _clean(o.get("abstract"))}
             for pid, o in texts.items() if pid not in in_rows]
    rows += sample
    rows.sort(key=lambda r: (r["kind"], r["id"], json.dumps(r, sort_keys=True)))
    meta = {"kind": "meta", "id": "", "unlabelled_seen": seen, "unlabelled_sampled": len(sample),
            "categories": sorted(cats), "seed": seed}
    rows.insert(0, meta)
    card = {
        "sources": {key: {"file": SOURCES[key], "sha256": file_sha256(p)} for key, p in paths.items()},
        "counts": dict(sorted(Counter(r["kind"] for r in rows[1:]).items())),
        "labelled_without_abstract": sum(1 for r in rows if r["kind"] in ("label", "reviewed") and not r["abstract"]),
        "unlabelled_seen": seen,
        "categories": sorted(cats),
        "seed": seed,
    }
    return rows, card


def write_bundle(rows: Iterable[Mapping[str, Any]], card: dict[str, Any], out: str | Path,
                 command: str) -> dict[str, Any]:
    """Write the bundle (reproducible gzip bytes) and its card; returns the card with size and sha256."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        for row in rows:
            gz.write((json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    data = buf.getvalue()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    full = {**card, "file": out.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "command": command}
    bundle_card_path(out).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return full


@dataclass
class Bundle:
    """A bundle read back as training examples."""

    labels: list[TrainingExample] = field(default_factory=list)
    reviewed: list[TrainingExample] = field(default_factory=list)
    unlabelled: list[TrainingExample] = field(default_factory=list)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> title/abstract of any paper it knows
    stream: set[str] = field(default_factory=set)  # labelled papers of the stream the unlabelled came from
    unlabelled_seen: int = 0
    sha256: str = ""
    path: str = ""


def read_bundle(path: str | Path) -> Bundle:
    """Read a bundle written by write_bundle; InputError when it is missing or not a bundle."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no training bundle",
                         "build one with `lfmwatch bundle --data ../shared/data --out models/lfm-bundle.jsonl.gz`, "
                         "or give the data arguments (--readme, --labels, --corpus)")
    b = Bundle(sha256=file_sha256(p), path=str(p))
    for _, row in read_jsonl(p):
        if not isinstance(row, dict):
            continue
        kind, pid = row.get("kind"), str(row.get("id") or "")
        if kind == "meta":
            b.unlabelled_seen = int(row.get("unlabelled_seen") or 0)
            continue
        if not pid:
            continue
        if row.get("abstract"):
            b.texts.setdefault(pid, {"title": str(row.get("title") or ""), "abstract": str(row["abstract"])})
        if row.get("stream"):
            b.stream.add(pid)
        if kind == "label":
            b.labels.append(example(pid, row.get("title"), row.get("abstract"), str(row["section"]),
                                    "label_top" if row.get("precision") == "top" else "label"))
        elif kind == "reviewed":
            include = bool(row.get("include"))
            b.reviewed.append(example(pid, row.get("title"), row.get("abstract"),
                                      row.get("section") if include else None,
                                      "reviewed_pos" if include else "reviewed_neg"))
        elif kind == "unlabelled":
            b.unlabelled.append(example(pid, row.get("title"), row.get("abstract"), None, "negative"))
    if not (b.labels or b.reviewed or b.unlabelled or b.texts):
        raise InputError(f"{p}: not a training bundle (no label, review, text or unlabelled row)",
                         "rebuild it with `lfmwatch bundle`")
    return b
