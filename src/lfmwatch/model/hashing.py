"""Hashing tokens without Python code per token: a byte table, numpy token boundaries, 64-bit FNV-1a hashes of
every token, and a vectorised open-addressing hash table from hashes (or bigram keys) to ids (see features.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

STOP = -2  # token id of a stop word: removed before bigrams are formed
UNKNOWN = -1  # token id of a word not in the dictionary: breaks bigrams, counts for nothing
CHUNK = 4096  # papers tokenized per numpy pass: bounds the temporary arrays
_FNV_OFFSET, _FNV_PRIME = 14695981039346656037, 1099511628211
_MIX = 0x9E3779B97F4A7C15  # odd multiplier spreading keys over hash-table slots
_MASKS = [(1 << (8 * r)) - 1 for r in range(9)]  # the low r bytes of a uint64 (a token's last, partial word)

# Byte table: ASCII letters/digits/underscore lowercased, other ASCII bytes become spaces (separators), UTF-8
# bytes of non-ASCII characters are kept (they are word characters, as in scikit-learn's `\w`).
BYTE_TABLE = bytes(
    (ord(chr(c).lower()) if (chr(c).isalnum() or c == 95) else 32) if c < 128 else c for c in range(256)
)


def hash_tokens(texts: Sequence[str]) -> tuple[Any, Any]:
    """(64-bit hash of every token of >= 2 bytes, index of its text), computed with numpy only.

    Tokens are maximal runs of word bytes after the byte table above (the `\\w\\w+` rule of scikit-learn,
    lowercased); no per-token Python runs, which is what makes classification fast. A token is hashed 8 bytes at
    a time (an unaligned uint64 view of the byte string: `h = (h ^ word) * prime`, the last word masked to the
    token's length, the length mixed into the seed) and finished with a 64-bit avalanche (murmur3's fmix64).
    """
    import numpy as np

    masks = np.array(_MASKS, dtype=np.uint64)
    hashes, docs = [], []
    for lo in range(0, len(texts), CHUNK):
        part = texts[lo : lo + CHUNK]
        joined = "\x00".join(part)
        if joined.count("\x00") == len(part) - 1:
            # One encode for the chunk; the NUL separators (a non-word byte) mark where each text starts.
            raw = joined.encode("utf-8", "replace")
            a0 = np.frombuffer(raw, dtype=np.uint8)
            sep = np.flatnonzero(a0 == 0)
        else:  # a text holds NUL itself: encode text by text
            enc = [t.encode("utf-8", "replace") for t in part]
            raw = b" ".join(enc)
            sep = np.cumsum(np.fromiter(map(len, enc), dtype=np.int64, count=len(enc)) + 1)[:-1] - 1
        # Positions below are in buf: one leading space (so every token has a separator before it) + 8 padding.
        buf = b" " + raw.translate(BYTE_TABLE) + b"        "
        n = len(raw) + 1
        word = np.frombuffer(buf, dtype=np.uint8) != 32
        # Word/separator changes alternate: token start, token end, start, end, ...
        change = np.flatnonzero(word[1:] != word[:-1]) + 1
        starts, length = change[0::2], change[1::2] - change[0::2]
        ok = length >= 2
        starts, length = starts[ok], length[ok]
        docs.append(np.searchsorted(sep, starts) + lo)
        # Every position as the start of an unaligned little-endian uint64 (the 8 padding bytes keep reads inside).
        words = np.ndarray((n,), dtype="<u8", buffer=buf, strides=(1,))
        prime = np.uint64(_FNV_PRIME)
        h = np.uint64(_FNV_OFFSET) ^ length.astype(np.uint64)
        # Word 0 of every token, then word k of the (fewer and fewer) tokens longer than 8 * k bytes.
        w = words[starts]
        w &= masks[np.minimum(length, 8)]
        h ^= w
        h *= prime
        idx = np.flatnonzero(length > 8)
        k = 1
        while len(idx):
            rem = length[idx] - 8 * k
            w = words[starts[idx] + 8 * k]
            w &= masks[np.minimum(rem, 8)]
            h[idx] = (h[idx] ^ w) * prime
            idx = idx[rem > 8]
            k += 1
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
        hashes.append(h)
    if not hashes:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    return np.concatenate(hashes), np.concatenate(docs)


class HashIndex:
    """uint64/int64 key -> int value map with vectorised lookups (open addressing, linear probing)."""

    def __init__(self, keys: Any, values: Any) -> None:
        import numpy as np

        keys = np.asarray(keys).astype(np.uint64)
        values = np.asarray(values, dtype=np.int64)
        # A key whose value is UNKNOWN reads as absent anyway; an empty slot is one whose value is UNKNOWN.
        stored = values != UNKNOWN
        keys, values = keys[stored], values[stored]
        bits = max(4, int(np.ceil(np.log2(max(len(keys), 1) * 4))))
        self.shift = np.uint64(64 - bits)
        size = 1 << bits
        self.keys = np.zeros(size, dtype=np.uint64)
        self.values = np.full(size, UNKNOWN, dtype=np.int64)
        self.used = np.zeros(size, dtype=bool)
        pending = np.arange(len(keys))
        pos = self._slot(keys)
        self.max_probe = 0
        while len(pending):
            cand = pos[pending]
            free = ~self.used[cand]
            # One winner per free slot this round; the rest probe the next slot.
            _, first = np.unique(cand[free], return_index=True)
            win = pending[free][first]
            self.keys[pos[win]] = keys[win]
            self.values[pos[win]] = values[win]
            self.used[pos[win]] = True
            placed = np.zeros(len(keys), dtype=bool)
            placed[win] = True
            pending = pending[~placed[pending]]
            pos[pending] = (pos[pending] + 1) & (size - 1)
            self.max_probe += 1 if len(pending) else 0

    def _slot(self, keys: Any) -> Any:
        import numpy as np

        return ((keys.astype(np.uint64) * np.uint64(_MIX)) >> self.shift).astype(np.int64)

    def get(self, query: Any) -> Any:
        """Value of each query key, UNKNOWN where absent."""
        import numpy as np

        query = np.asarray(query).astype(np.uint64, copy=False)
        pos = self._slot(query)
        # First probe for every key at once (most keys end here); a slot is empty when its value is UNKNOWN.
        val = self.values[pos]
        hit = self.keys[pos] == query
        occupied = val != UNKNOWN
        out = np.where(hit & occupied, val, UNKNOWN)
        active = np.flatnonzero(occupied & ~hit)
        mask = len(self.keys) - 1
        pos = (pos[active] + 1) & mask
        for _ in range(self.max_probe):
            if not len(active):
                break
            val = self.values[pos]
            occupied = val != UNKNOWN
            hit = occupied & (self.keys[pos] == query[active])
            out[active[hit]] = val[hit]
            more = occupied & ~hit
            active = active[more]
            pos = (pos[more] + 1) & mask
        return out
