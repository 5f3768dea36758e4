"""Text features: a fast tf-idf of word 1-2-grams over the title and over title + abstract.

The vectoriser is ours rather than scikit-learn's so that a fitted model is plain data (a token list and a few
arrays, stored without pickle) and so that transforming is fast: per paper only the regex tokenizer and a dict
lookup run in Python; bigrams, counts, tf-idf weights and norms are computed with numpy for a whole batch.
Token ids are looked up in a dict of every unigram seen at least `min_df` times; a bigram is the integer pair key
`id1 * n_tokens + id2` found by binary search among the kept bigram keys. Semantics follow scikit-learn's
TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english"): stop words are dropped before
bigrams are formed, so "learning from models" gives the bigram "learning models".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")
STOP = -2  # token id of a stop word: removed before bigrams are formed
UNKNOWN = -1  # token id of a word not in the dictionary: breaks bigrams, counts for nothing
FIELDS = ("title", "text")  # feature blocks: title alone, then title + abstract


def paper_texts(paper: Mapping[str, Any]) -> tuple[str, str]:
    """(title, title + abstract) of a paper record, missing parts as empty strings."""
    title = str(paper.get("title") or "")
    abstract = str(paper.get("abstract") or "")
    return title, f"{title} {abstract}"


def english_stop_words() -> list[str]:
    """scikit-learn's English stop-word list (copied into the model so inference does not import sklearn)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS)


def _token_ids(texts: Iterable[str], index: dict[str, int]) -> tuple[list[int], list[int]]:
    """Concatenated token ids of all texts and the offsets where each text starts (CSR-style indptr)."""
    ids: list[int] = []
    indptr = [0]
    findall = TOKEN_RE.findall
    get = index.get
    for text in texts:
        ids.extend(map(get, findall(text.lower()), repeat(UNKNOWN)))
        indptr.append(len(ids))
    return ids, indptr


@dataclass
class Vocabulary:
    """A fitted feature space: token dictionary, kept unigrams/bigrams per field, and their idf weights."""

    tokens: list[str]  # token id -> token (stop words excluded; they map to STOP)
    stop_words: list[str]
    unigram_cols: list[Any]  # per field: int array token id -> column (or -1)
    bigram_keys: list[Any]  # per field: sorted int64 keys id1 * n_tokens + id2
    bigram_cols: list[Any]  # per field: column of each key
    idf: Any  # float32 array, one weight per column (all fields)
    offsets: list[int]  # first column of each field; last item = total columns

    def __post_init__(self) -> None:
        self._index: dict[str, int] = {t: i for i, t in enumerate(self.tokens)}
        self._index.update(dict.fromkeys(self.stop_words, STOP))

    @property
    def n_features(self) -> int:
        """Total number of columns."""
        return int(self.offsets[-1])

    def terms(self) -> list[str]:
        """Readable term of every column; title columns are the bare term too (the `why` words)."""
        import numpy as np

        names = [""] * self.n_features
        n_tok = len(self.tokens)
        for f in range(len(FIELDS)):
            for tok, col in enumerate(self.unigram_cols[f]):
                if col >= 0:
                    names[int(col)] = self.tokens[tok]
            keys = np.asarray(self.bigram_keys[f])
            for key, col in zip(keys.tolist(), np.asarray(self.bigram_cols[f]).tolist(), strict=True):
                names[int(col)] = f"{self.tokens[key // n_tok]} {self.tokens[key % n_tok]}"
        return names

    def transform(self, papers: Sequence[Mapping[str, Any]]) -> Any:
        """CSR matrix (papers x columns) of l2-normalised sublinear tf-idf per field, float32."""
        import numpy as np
        import scipy.sparse as sp

        pairs = [paper_texts(p) for p in papers]
        blocks = []
        for f in range(len(FIELDS)):
            ids, indptr = _token_ids((pair[f] for pair in pairs), self._index)
            blocks.append(self._field_matrix(f, np.asarray(ids, dtype=np.int64), np.asarray(indptr, dtype=np.int64)))
        out = sp.hstack(blocks, format="csr", dtype=np.float32)
        return out

    def _field_matrix(self, f: int, ids: Any, indptr: Any) -> Any:
        import numpy as np
        import scipy.sparse as sp

        n_docs = len(indptr) - 1
        width = self.offsets[f + 1] - self.offsets[f]
        # Drop stop words, keeping document boundaries.
        keep = ids != STOP
        doc = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(indptr))
        ids, doc = ids[keep], doc[keep]
        uni_table = self.unigram_cols[f]
        cols_u = np.where(ids >= 0, uni_table[np.maximum(ids, 0)], -1) if len(ids) else ids
        # Bigrams: adjacent pairs inside one document with both tokens known.
        same = doc[1:] == doc[:-1]
        both = (ids[1:] >= 0) & (ids[:-1] >= 0) & same
        keys = ids[:-1][both] * len(self.tokens) + ids[1:][both]
        bdoc = doc[:-1][both]
        table = self.bigram_keys[f]
        if len(table) and len(keys):
            pos = np.searchsorted(table, keys)
            pos = np.minimum(pos, len(table) - 1)
            hit = table[pos] == keys
            cols_b, bdoc = self.bigram_cols[f][pos[hit]], bdoc[hit]
        else:
            cols_b, bdoc = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        hit_u = cols_u >= 0
        rows = np.concatenate([doc[hit_u], bdoc])
        cols = np.concatenate([cols_u[hit_u], cols_b]) - self.offsets[f]
        m = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_docs, width), dtype=np.float32
        )
        m.sum_duplicates()
        m.data = (1.0 + np.log(m.data)) * self.idf[self.offsets[f] + m.indices]
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        m.data /= np.repeat(norms, np.diff(m.indptr)).astype(np.float32)
        return m

    # -- persistence as plain arrays --------------------------------------------------------------------
    def to_arrays(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON-able metadata, name -> numpy array) for a pickle-free file."""
        meta = {"tokens": self.tokens, "stop_words": self.stop_words, "offsets": list(map(int, self.offsets))}
        arrays: dict[str, Any] = {"idf": self.idf}
        for f in range(len(FIELDS)):
            arrays[f"unigram_cols_{f}"] = self.unigram_cols[f]
            arrays[f"bigram_keys_{f}"] = self.bigram_keys[f]
            arrays[f"bigram_cols_{f}"] = self.bigram_cols[f]
        return meta, arrays

    @classmethod
    def from_arrays(cls, meta: Mapping[str, Any], arrays: Mapping[str, Any]) -> Vocabulary:
        """Inverse of to_arrays."""
        n = len(FIELDS)
        return cls(
            tokens=list(meta["tokens"]),
            stop_words=list(meta["stop_words"]),
            unigram_cols=[arrays[f"unigram_cols_{f}"] for f in range(n)],
            bigram_keys=[arrays[f"bigram_keys_{f}"] for f in range(n)],
            bigram_cols=[arrays[f"bigram_cols_{f}"] for f in range(n)],
            idf=arrays["idf"],
            offsets=list(meta["offsets"]),
        )


def fit_vocabulary(
    papers: Sequence[Mapping[str, Any]], *, min_df: Sequence[int] = (2, 2), max_df: float = 0.5
) -> Vocabulary:
    """Learn the dictionary, kept n-grams (document frequency >= min_df per field, <= max_df) and idf."""
    import numpy as np

    stop = english_stop_words()
    index: dict[str, int] = dict.fromkeys(stop, STOP)
    pairs = [paper_texts(p) for p in papers]
    n_docs = len(pairs)
    # First pass: every token gets an id (setdefault keeps the first); stop words stay STOP.
    per_field = []
    for f in range(len(FIELDS)):
        ids: list[int] = []
        indptr = [0]
        for pair in pairs:
            words = TOKEN_RE.findall(pair[f].lower())
            ids.extend(index.setdefault(w, len(index)) for w in words)
            indptr.append(len(ids))
        per_field.append((np.asarray(ids, dtype=np.int64), np.asarray(indptr, dtype=np.int64)))
    raw_tokens = [""] * len(index)
    for tok, i in index.items():
        if i >= 0:
            raw_tokens[i] = tok
    # setdefault counted stop words in len(index): ids are sparse; that is fine for counting.
    n_raw = len(index)
    kept_fields = []
    used_tokens = np.zeros(n_raw, dtype=bool)
    for f, (ids, indptr) in enumerate(per_field):
        doc = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(indptr))
        keep = ids != STOP
        ids, doc = ids[keep], doc[keep]
        lo = max(min_df[f], 1)
        hi = max(int(max_df * n_docs), lo)
        # Unigram document frequencies.
        u = np.unique(doc * n_raw + ids)
        df_u = np.bincount(u % n_raw, minlength=n_raw)
        uni = np.flatnonzero((df_u >= lo) & (df_u <= hi))
        same = doc[1:] == doc[:-1]
        keys = ids[:-1][same] * n_raw + ids[1:][same]
        bdoc = doc[:-1][same]
        # Unique (doc, bigram) pairs, then document frequency per bigram.
        order = np.lexsort((keys, bdoc))
        k_sorted, d_sorted = keys[order], bdoc[order]
        first = np.ones(len(k_sorted), dtype=bool)
        first[1:] = (k_sorted[1:] != k_sorted[:-1]) | (d_sorted[1:] != d_sorted[:-1])
        bkeys, bdf = np.unique(k_sorted[first], return_counts=True)
        sel = (bdf >= lo) & (bdf <= hi)
        bkeys, bdf = bkeys[sel], bdf[sel]
        used_tokens[uni] = True
        used_tokens[bkeys // n_raw] = True
        used_tokens[bkeys % n_raw] = True
        kept_fields.append((uni, df_u[uni], bkeys, bdf))
    # Compact token ids to the tokens any field uses.
    new_id = np.full(n_raw, -1, dtype=np.int64)
    used = np.flatnonzero(used_tokens)
    new_id[used] = np.arange(len(used))
    n_tok = len(used)
    tokens = [raw_tokens[i] for i in used.tolist()]
    offsets = [0]
    unigram_cols, bigram_keys, bigram_cols, idfs = [], [], [], []
    for uni, df_uni, bkeys, bdf in kept_fields:
        start = offsets[-1]
        table = np.full(n_tok, -1, dtype=np.int64)
        table[new_id[uni]] = start + np.arange(len(uni))
        nk = new_id[bkeys // n_raw] * n_tok + new_id[bkeys % n_raw]
        order = np.argsort(nk)
        nk = nk[order]
        bcols = start + len(uni) + np.arange(len(nk), dtype=np.int64)
        unigram_cols.append(table)
        bigram_keys.append(nk)
        bigram_cols.append(bcols)
        df = np.concatenate([df_uni, bdf[order]]).astype(np.float64)
        idfs.append(np.log((1 + n_docs) / (1 + df)) + 1.0)
        offsets.append(start + len(uni) + len(nk))
    return Vocabulary(
        tokens=tokens,
        stop_words=stop,
        unigram_cols=unigram_cols,
        bigram_keys=bigram_keys,
        bigram_cols=bigram_cols,
        idf=np.concatenate(idfs).astype(np.float32),
        offsets=offsets,
    )


def restrict(vocab: Vocabulary, keep_cols: Any) -> tuple[Vocabulary, Any]:
    """A smaller vocabulary with only the columns in `keep_cols` (sorted ints); returns it and the old->new map."""
    import numpy as np

    keep_cols = np.asarray(sorted(set(np.asarray(keep_cols).tolist())), dtype=np.int64)
    remap = np.full(vocab.n_features, -1, dtype=np.int64)
    offsets = [0]
    unigram_cols, bigram_keys, bigram_cols = [], [], []
    new_cols_all = []
    n_tok = len(vocab.tokens)
    used_tok = np.zeros(n_tok, dtype=bool)
    for f in range(len(FIELDS)):
        lo, hi = vocab.offsets[f], vocab.offsets[f + 1]
        mine = keep_cols[(keep_cols >= lo) & (keep_cols < hi)]
        remap[mine] = offsets[-1] + np.arange(len(mine))
        offsets.append(offsets[-1] + len(mine))
        new_cols_all.append(mine)
        table = vocab.unigram_cols[f]
        ok = (table >= 0) & (remap[np.maximum(table, 0)] >= 0)
        used_tok |= ok
        bk, bc = vocab.bigram_keys[f], vocab.bigram_cols[f]
        bok = remap[bc] >= 0
        used_tok[bk[bok] // n_tok] = True
        used_tok[bk[bok] % n_tok] = True
    tok_new = np.full(n_tok, -1, dtype=np.int64)
    used = np.flatnonzero(used_tok)
    tok_new[used] = np.arange(len(used))
    m = len(used)
    for f in range(len(FIELDS)):
        table = vocab.unigram_cols[f]
        new_table = np.full(m, -1, dtype=np.int64)
        ok = (table >= 0) & (remap[np.maximum(table, 0)] >= 0)
        new_table[tok_new[np.flatnonzero(ok)]] = remap[table[ok]]
        bk, bc = vocab.bigram_keys[f], vocab.bigram_cols[f]
        bok = remap[bc] >= 0
        nk = tok_new[bk[bok] // n_tok] * m + tok_new[bk[bok] % n_tok]
        ncol = remap[bc[bok]]
        order = np.argsort(nk)
        unigram_cols.append(new_table)
        bigram_keys.append(nk[order])
        bigram_cols.append(ncol[order])
    idf = np.zeros(offsets[-1], dtype=np.float32)
    idf[remap[keep_cols]] = vocab.idf[keep_cols]
    small = Vocabulary(
        tokens=[vocab.tokens[i] for i in used.tolist()],
        stop_words=vocab.stop_words,
        unigram_cols=unigram_cols,
        bigram_keys=bigram_keys,
        bigram_cols=bigram_cols,
        idf=idf,
        offsets=offsets,
    )
    return small, remap
