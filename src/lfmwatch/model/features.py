"""Text features: a fast tf-idf of word 1-2-grams over the title and over title + abstract.

The vectoriser is ours rather than scikit-learn's so that a fitted model is plain data (a token list and a few
arrays, stored without pickle) and so that transforming is fast: no Python code runs per token. A batch of texts
is joined into one byte string, mapped through a byte table (lowercase, separators to spaces), and numpy finds the
token boundaries and computes a 64-bit FNV-1a hash of every token; a vectorised open-addressing hash table maps
hashes to token ids and bigram keys (`id1 * n_tokens + id2`) to columns; counts, sublinear tf, idf and norms are
array operations. Semantics follow scikit-learn's TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
stop_words="english") (a test checks they agree): stop words are dropped before bigrams are formed, so
"learning from models" gives the bigram "learning models".

Title roles (optional, stored with the vocabulary): a title says what a paper is about and what it merely uses. Words
after "via / using / with / through / by" are marked as the tool (`zzviamerging`), words after "for / in / on / to"
as the target (`zzforretrieval`), and those marks are appended to the title as extra tokens, so a linear model can
tell "model merging for X" from "X via model merging".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lfmwatch.model.hashing import BYTE_TABLE, STOP, HashIndex, hash_tokens

FIELDS = ("title", "text")  # feature blocks: title alone, then title + abstract


ROLE_MARK = "zz"  # prefix of the title-role tokens (never shown as a `why` word)
_ROLE_SPLIT = re.compile(r"\b(for|via|using|with|through|by|in|on|to|from|of)\b", re.IGNORECASE)
_ROLE_OF = {**dict.fromkeys(("via", "using", "with", "through", "by"), "zzvia"),
            **dict.fromkeys(("for", "in", "on", "to"), "zzfor"), "from": None, "of": None}
_ROLE_WORD = re.compile(r"[a-z0-9]{3,}")


def title_roles(title: str) -> str:
    """Role tokens of a title: each word after a tool preposition as `zzvia<word>`, after a target one as
    `zzfor<word>` (`of`/`from` keep the current role); `zzplain` when there is none. A short name before a colon
    ("UP-Person: ...") is skipped."""
    head, colon, rest = title.partition(":")
    text = rest if colon and len(head) <= 40 else title
    parts = _ROLE_SPLIT.split(text)
    out: list[str] = []
    role: str | None = None
    for i, part in enumerate(parts):
        if i % 2:  # a preposition
            low = part.lower()
            role = _ROLE_OF[low] or role
        elif role:
            out += [role + w for w in _ROLE_WORD.findall(part.lower())]
    return " ".join(out) if out else ROLE_MARK + "plain"


def paper_texts(paper: Mapping[str, Any], roles: bool = False) -> tuple[str, str]:
    """(title, title + abstract) of a paper record, missing parts as empty strings; with `roles`, the title
    carries its role tokens (title_roles)."""
    title = str(paper.get("title") or "")
    if roles:
        title = f"{title} {title_roles(title)}"
    abstract = str(paper.get("abstract") or "")
    return title, f"{title} {abstract}"


def english_stop_words() -> list[str]:
    """scikit-learn's English stop-word list (copied into the model so inference does not import sklearn)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS)


@dataclass
class Vocabulary:
    """A fitted feature space: token dictionary, kept unigrams/bigrams per field, and their idf weights."""

    tokens: list[str]  # token id -> token (stop words excluded; they map to STOP)
    stop_words: list[str]
    unigram_cols: list[Any]  # per field: int array token id -> column (or -1)
    bigram_keys: list[Any]  # per field: int64 keys id1 * n_tokens + id2
    bigram_cols: list[Any]  # per field: column of each key
    idf: Any  # float32 array, one weight per column (all fields)
    offsets: list[int]  # first column of each field; last item = total columns
    roles: bool = False  # titles carry their role tokens (title_roles)

    def __post_init__(self) -> None:
        import numpy as np

        tok_h, _ = hash_tokens(self.tokens)
        stop_h, _ = hash_tokens(self.stop_words)
        self._tokens = HashIndex(
            np.concatenate([tok_h, stop_h]),
            np.concatenate([np.arange(len(self.tokens)), np.full(len(stop_h), STOP)]),
        )
        self._bigrams = [HashIndex(k, c) for k, c in zip(self.bigram_keys, self.bigram_cols, strict=True)]
        # A pair can only be a kept bigram when its first and second tokens start/end some kept bigram.
        n = len(self.tokens)
        self._first_ok, self._second_ok = [], []
        for keys in self.bigram_keys:
            first, second = np.zeros(n + 1, dtype=bool), np.zeros(n + 1, dtype=bool)
            first[np.asarray(keys) // max(n, 1)] = True
            second[np.asarray(keys) % max(n, 1)] = True
            self._first_ok.append(first)
            self._second_ok.append(second)

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
        """CSR matrix (papers x columns) of l2-normalised sublinear tf-idf per field, float32.

        One tokenising pass: title and abstract are hashed as separate segments; the text field is every token of
        a paper (title then abstract, as in "title abstract"), the title field the title segment's tokens.
        """
        import numpy as np
        import scipy.sparse as sp

        n_docs = len(papers)
        segments: list[str] = []
        for p in papers:
            title = str(p.get("title") or "")
            segments.append(f"{title} {title_roles(title)}" if self.roles else title)
            segments.append(str(p.get("abstract") or ""))
        h, seg = hash_tokens(segments)
        ids = self._tokens.get(h)
        keep = ids != STOP  # stop words go before bigrams are formed
        ids, seg = ids[keep], seg[keep]
        doc = seg >> 1
        is_title = (seg & 1) == 0
        rows, cols = [], []
        for f, (f_ids, f_doc) in enumerate(((ids[is_title], doc[is_title]), (ids, doc))):
            r, c = self._field_entries(f, f_ids, f_doc)
            rows.append(r)
            cols.append(c)
        m = sp.csr_matrix(
            (np.ones(sum(map(len, rows)), dtype=np.float32), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_docs, self.n_features), dtype=np.float32,
        )
        m.sum_duplicates()
        m.data = (1.0 + np.log(m.data)) * self.idf[m.indices]
        # l2 norm per (paper, field): fields are contiguous column ranges.
        row_of = np.repeat(np.arange(n_docs), np.diff(m.indptr))
        key = row_of * 2 + (m.indices >= self.offsets[1])
        norms = np.sqrt(np.bincount(key, weights=m.data * m.data, minlength=2 * n_docs))
        norms[norms == 0] = 1.0
        m.data /= norms[key].astype(np.float32)
        return m

    def _field_entries(self, f: int, ids: Any, doc: Any) -> tuple[Any, Any]:
        """(row, column) of every kept unigram and bigram occurrence of field f (stop words already removed)."""
        import numpy as np

        cols_u = self.unigram_cols[f][np.maximum(ids, 0)]
        cols_u = np.where(ids >= 0, cols_u, -1)
        # Bigrams: adjacent known tokens of one paper that can form a kept bigram.
        nxt = ids[1:]
        cur = ids[:-1]
        cand = (doc[1:] == doc[:-1]) & (cur >= 0) & (nxt >= 0)
        cand[cand] = self._first_ok[f][cur[cand]] & self._second_ok[f][nxt[cand]]
        keys = cur[cand] * len(self.tokens) + nxt[cand]
        cols_b = self._bigrams[f].get(keys)
        hit_b = cols_b >= 0
        hit_u = cols_u >= 0
        rows = np.concatenate([doc[hit_u], doc[:-1][cand][hit_b]])
        cols = np.concatenate([cols_u[hit_u], cols_b[hit_b]])
        return rows, cols

    # -- persistence as plain arrays --------------------------------------------------------------------
    def to_arrays(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON-able metadata, name -> numpy array) for a pickle-free file."""
        meta: dict[str, Any] = {"tokens": self.tokens, "stop_words": self.stop_words,
                                "offsets": list(map(int, self.offsets))}
        if self.roles:
            meta["roles"] = True
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
            roles=bool(meta.get("roles", False)),
        )


def fit_vocabulary(
    papers: Sequence[Mapping[str, Any]], *, min_df: Sequence[int] = (2, 2), max_df: float = 0.5, roles: bool = False
) -> Vocabulary:
    """Learn the dictionary, kept n-grams (document frequency >= min_df per field, <= max_df) and idf; with
    `roles`, titles carry their role tokens (title_roles) here and in every transform."""
    import numpy as np

    stop = english_stop_words()
    stop_h, _ = hash_tokens(stop)
    pairs = [paper_texts(p, roles) for p in papers]
    n_docs = len(pairs)
    # Token ids: rank of the token's hash among all distinct hashes; stop words become STOP.
    field_tokens = [hash_tokens([pair[f] for pair in pairs]) for f in range(len(FIELDS))]
    uniq = np.unique(np.concatenate([h for h, _ in field_tokens]))
    is_stop = np.isin(uniq, stop_h)
    per_field = []
    for h, doc in field_tokens:
        ids = np.searchsorted(uniq, h).astype(np.int64)
        ids[is_stop[ids]] = STOP
        per_field.append((ids, doc))
    n_raw = len(uniq)
    kept_fields = []
    used_tokens = np.zeros(n_raw, dtype=bool)
    for f, (ids, doc) in enumerate(per_field):
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
        del u, keys, bdoc, order, k_sorted, d_sorted, first  # peak memory: these are the largest arrays
    # Compact token ids to the tokens any field uses.
    new_id = np.full(n_raw, -1, dtype=np.int64)
    used = np.flatnonzero(used_tokens)
    new_id[used] = np.arange(len(used))
    n_tok = len(used)
    tokens = _token_strings(pairs, uniq[used])
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
        roles=roles,
    )


def _token_strings(pairs: Sequence[tuple[str, str]], hashes: Any) -> list[str]:
    """The text of each token hash (the same byte rule as hash_tokens, split in C by bytes.split)."""
    import numpy as np

    seen: set[bytes] = set()
    for pair in pairs:
        seen.update(pair[1].encode("utf-8", "replace").translate(BYTE_TABLE).split())
        seen.update(pair[0].encode("utf-8", "replace").translate(BYTE_TABLE).split())
    words = [w.decode("utf-8", "replace") for w in seen if len(w) >= 2]
    h, _ = hash_tokens(words)
    # hash_tokens gives one hash per word here (each word is one token of >= 2 bytes).
    by_hash = dict(zip(h.tolist(), words, strict=True))
    return [by_hash.get(int(x), "") for x in np.asarray(hashes).tolist()]


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
        roles=vocab.roles,
    )
    return small, remap
