"""The fitted classifier: relevance (calibrated probability) and section (area, then leaf), predict.

A model is plain data: the vocabulary of `features.py`, weight matrices and a calibration curve (its file format
is in `model/io.py`). Prediction is pure: no file, network or database access.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lfmwatch.model.features import ROLE_MARK, Vocabulary
from lfmwatch.records import Prediction, area_among, parent_section

FORMAT_V1 = "lfmwatch-model/1"
FORMAT = "lfmwatch-model/2"  # 2: the vocabulary carries title roles (features.title_roles); without them a model is 1
READABLE_FORMATS = (FORMAT_V1, FORMAT)
_WORD = re.compile(r"\w+")  # words as written (one-letter words too: "network a editor" is no phrase)
TRAIN_HINT = "run `lfmwatch train` (the full command is in models/README.md and in the model card)"
WHY_WORDS = 5
WHY_FULL_SHARE = 0.5  # papers scoring at least this share of the threshold get phrase-aware `why` words
PHRASE_BONUS = 1.5  # a phrase says more than a word: its contribution counts this much more
# Words that say nothing about the topic of a paper: never a `why` word alone, and a phrase made only of them (or
# with a FILLER word in it, "using lora", "based approach") is not shown either. English stop words never are.
FILLER_WORDS = frozenset("""
    using use used uses based introduce introduces introduced introducing propose proposes proposed proposing
    present presents presented study studies studied paper papers work works show shows shown showing demonstrate
    demonstrates demonstrated novel new existing extensive experiments experiment experimental achieve achieves
    achieved achieving significantly significant improve improves improved improving improvement improvements
    recent recently various different effective effectively efficient efficiently approach approaches method
    methods results result address addresses enable enables enabling leverage leverages leveraging provide
    provides including include includes furthermore additionally specifically particular finally respectively
    considerably substantially notably outperforms outperform outperforming superior achieves state art sota
    evaluate evaluated evaluation evaluations investigate investigates explore explores remains remain key
    main given able ability way ways aim aims make makes making stage step steps simple simply pre
""".split())
GENERIC_WORDS = FILLER_WORDS | frozenset("""
    model models data dataset datasets learning training trained train task tasks performance framework
    frameworks problem problems benchmark benchmarks large language deep neural network networks llm llms
    system systems analysis information methods technique techniques process existing strategy
    strategies setting settings generation high low level scale time set number tool tools module modules
    baseline baselines accuracy quality robust robustness domain domains input inputs output outputs
    parameter parameters pre pretrained trained single downstream shot accurate good better best case cases
    create creates limited compared compare despite score scores revisiting revisit iterative findings research
    specific solution solutions content ratio general wide range common challenge challenges challenging
    application applications practical real world important crucial critical potential reveal reveals type types
    non cost costs exact intended behavior behaviors
""".split())


def sklearn_version() -> str:
    """Installed scikit-learn version, read from package metadata (cheap: no sklearn import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:  # pragma: no cover - sklearn is a dependency
        return "unknown"


@dataclass
class LfmModel:
    """A fitted model: relevance weights + calibration, area and leaf weights, threshold and card."""

    vocab: Vocabulary
    rel_coef: Any  # float32 (n_features, k): k linear relevance stages
    rel_intercept: Any  # float64 (k,)
    calib_x: Any  # raw relevance score knots (increasing)
    calib_y: Any  # calibrated probability at each knot
    areas: list[str]
    area_coef: Any  # float32 (n_features, n_areas)
    area_intercept: Any
    leaves: list[str]
    leaf_coef: Any  # float32 (n_features, n_leaves)
    leaf_intercept: Any
    threshold: float
    sections: list[str]  # every section of the list, predictable or not
    leaf_min: float = 0.4  # below this P(leaf | area) the section falls back to the leaf's parent
    card: dict[str, Any] = field(default_factory=dict)
    version: str = ""

    def __post_init__(self) -> None:
        import numpy as np

        self._why_cache: tuple[Any, ...] | None = None
        self._all_coef: Any = None
        # Weights are stored as float16 (half the file; measured: no change in the benchmark's figures); a fresh
        # model uses the same rounded weights as a loaded one, so both predict alike.
        for name in ("rel_coef", "area_coef", "leaf_coef"):
            setattr(self, name, np.asarray(getattr(self, name)).astype(np.float16).astype(np.float32))
        self._leaf_area = np.array([self.areas.index(area_among(leaf, self.areas)) for leaf in self.leaves])
        # Parent heading of each leaf (index into _parents, -1 for a top-level heading) and which leaves each
        # parent holds, for the fall-back to the parent when the leaf is unclear.
        parents = [parent_section(leaf) for leaf in self.leaves]
        self._parents = list(dict.fromkeys(p for p in parents if p is not None))
        self._leaf_parent = np.array([self._parents.index(p) if p is not None else -1 for p in parents], dtype=np.int64)
        self._parent_members = np.zeros((len(self.leaves), max(len(self._parents), 1)))
        for j, leaf in enumerate(self.leaves):
            for q, par in enumerate(self._parents):
                if leaf.startswith(par + " > "):
                    self._parent_members[j, q] = 1.0
        if not self.version:
            self.version = self._content_hash()

    # -- prediction (pure) ------------------------------------------------------------------------------
    def raw_scores(self, X: Any) -> Any:
        """Uncalibrated relevance score of each row of a feature matrix."""
        import numpy as np

        return self._raw_from(np.asarray(X @ self.rel_coef, dtype=np.float64))

    def _raw_from(self, xw: Any) -> Any:
        return combine_stages(xw + self.rel_intercept)

    def calibrate(self, raw: Any) -> Any:
        """Calibrated P(belongs in the list) from raw scores (monotone interpolation)."""
        import numpy as np

        return np.clip(np.interp(raw, self.calib_x, self.calib_y), 0.0, 1.0)

    def section_probs(self, X: Any) -> tuple[Any, Any]:
        """(P(area), P(leaf)) per row; P(leaf) = P(area) * P(leaf | area)."""
        import numpy as np

        return self._sections_from(np.asarray(X @ self.area_coef, dtype=np.float64),
                                   np.asarray(X @ self.leaf_coef, dtype=np.float64))

    def _sections_from(self, xa: Any, xl: Any) -> tuple[Any, Any]:
        import numpy as np

        pa = _softmax(xa + self.area_intercept)
        zl = xl + self.leaf_intercept
        pl = np.zeros_like(zl)
        for a in range(len(self.areas)):
            cols = np.flatnonzero(self._leaf_area == a)
            if len(cols):
                pl[:, cols] = _softmax(zl[:, cols]) * pa[:, [a]]
        return pa, pl

    def predict(self, papers: Sequence[Mapping[str, Any]], threshold: float | None = None) -> list[Prediction]:
        """DESIGN.md prediction fields for each paper: relevant, score, section, section_score, sections, why."""
        if not papers:
            return []
        # Predict builds hundreds of thousands of small lists, strings and dicts (none in a cycle). The cyclic GC
        # would rescan the whole heap again and again meanwhile: in a process holding a large corpus that halved
        # the speed (measured: 10,000 -> 21,000 papers per CPU second). It pauses for the call.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._predict(papers, threshold)
        finally:
            if was_enabled:
                gc.enable()

    def _predict(self, papers: Sequence[Mapping[str, Any]], threshold: float | None) -> list[Prediction]:
        import numpy as np

        thr = self.threshold if threshold is None or threshold < 0 else threshold
        X = self.vocab.transform(papers)
        # One sparse product for all weights (relevance stages, areas, leaves): one pass over X.
        if self._all_coef is None:
            self._all_coef = np.ascontiguousarray(np.hstack([self.rel_coef, self.area_coef, self.leaf_coef]),
                                                  dtype=np.float32)
        xw = np.asarray(X @ self._all_coef, dtype=np.float64)
        k, a = self.rel_coef.shape[1], self.area_coef.shape[1]
        raw = self._raw_from(xw[:, :k])
        score = self.calibrate(raw)
        pa, pl = self._sections_from(xw[:, k : k + a], xw[:, k + a :])
        positive = raw >= _raw_at(self, thr)
        why = self._why(X, positive, positive | (score >= thr * WHY_FULL_SHARE), papers)
        n = len(papers)
        top = np.argsort(-pl, axis=1)[:, :3]
        top_p = np.round(np.take_along_axis(pl, top, axis=1), 6)
        best = top[:, 0]
        rows = np.arange(n)
        best_p = pl[rows, best]
        within = best_p / np.maximum(pa[rows, self._leaf_area[best]], 1e-12)
        # The leaf is unclear: file under its parent heading with the parent's total probability.
        parent = self._leaf_parent[best]
        fall = (within < self.leaf_min) & (parent >= 0)
        sec_idx = np.where(fall, len(self.leaves) + parent, best)
        sec_p = np.where(fall, (pl @ self._parent_members)[rows, np.maximum(parent, 0)], best_p)
        names = [*self.leaves, *self._parents]
        sections = [names[j] for j in sec_idx.tolist()]
        sec_scores = np.round(np.minimum(sec_p, 1.0), 6).tolist()
        k = top.shape[1]
        top_names = [self.leaves[j] for j in top.ravel().tolist()]
        top_pl = top_p.ravel().tolist()
        pairs = [[a, b] for a, b in zip(top_names, top_pl, strict=True)]
        return self._rows(score >= thr, score, sections, sec_scores, pairs, k, why)

    @staticmethod
    def _rows(relevant: Any, score: Any, sections: list[str], sec_scores: list[float], pairs: list[list[Any]],
              k: int, why: list[list[str]]) -> list[Prediction]:
        import numpy as np

        return [
            {"relevant": r, "score": sc, "section": sec, "section_score": ss, "sections": pairs[i * k : i * k + k],
             "why": w}
            for i, (r, sc, sec, ss, w) in enumerate(
                zip(relevant.tolist(), np.round(score, 6).tolist(), sections, sec_scores, why, strict=True)
            )
        ]

    def _why_tables(self) -> tuple[Any, Any, list[str]]:
        """Per column: ranking weight for `why` (the relevance weight, times PHRASE_BONUS for a phrase, 0 for a
        term that is never shown: generic) and term id (a title column shares its text column's id); plus the
        term strings. Computed once per model."""
        import numpy as np

        if self._why_cache is None:
            terms = self.vocab.terms()
            stop = set(self.vocab.stop_words)
            ids: dict[str, int] = {}
            n = len(terms)
            term_id = np.empty(n, dtype=np.int64)
            shown = np.zeros(n, dtype=bool)
            phrase = np.zeros(n, dtype=bool)
            for c, term in enumerate(terms):
                term_id[c] = ids.setdefault(term, len(ids))
                words = term.split()
                phrase[c] = len(words) > 1
                shown[c] = _topical(words, stop)
            w = np.asarray(self.rel_coef, dtype=np.float64).sum(axis=1)
            w = np.where(shown, w, 0.0) * np.where(phrase, PHRASE_BONUS, 1.0)
            self._why_cache = (w, term_id, list(ids))
        return self._why_cache

    def _why(self, X: Any, positive: Any, full: Any, papers: Sequence[Mapping[str, Any]] = ()) -> list[list[str]]:
        """Topical words and phrases with the largest contribution towards the decision (towards relevant for
        relevant papers, towards not relevant otherwise); generic academic words are never shown.

        The contributions of a term's title and text columns add up; phrases get a bonus. For papers in `full`
        (relevant ones and near misses: the ones people read) a phrase is shown only as it is written in the paper
        (stop words inside it dropped the phrase's feature, not the text) and a word already shown inside a
        phrase is dropped; the rest get the plain vectorised top terms.
        """
        import numpy as np

        w, term_id, names = self._why_tables()
        n = X.shape[0]
        C = X.tocsr()
        rows = np.repeat(np.arange(n), np.diff(C.indptr))
        # Ranking weight of each column: 0 for terms never shown, the phrase bonus folded in.
        contrib = C.data * w[C.indices]
        contrib *= np.where(positive, 1.0, -1.0)[rows]
        sel = np.flatnonzero(contrib > 0)
        rows, cols, contrib = rows[sel], C.indices[sel], contrib[sel]
        # One entry per (paper, term): title and text columns of a word are one reason.
        key = rows * len(names) + term_id[cols]
        uniq, inv = np.unique(key, return_inverse=True)
        total = np.bincount(inv, weights=contrib)
        rows, tids = uniq // len(names), uniq % len(names)
        # By paper, then strongest first, with one float sort key: row + a number in (0, 1) falling with contrib.
        order = np.argsort(rows + 1.0 / (2.0 + total), kind="stable")
        rows, tids = rows[order], tids[order]
        starts = np.searchsorted(rows, np.arange(n + 1))
        rank = np.arange(len(rows)) - starts[rows]
        keep = rank < 2 * WHY_WORDS
        rows, tids = rows[keep], tids[keep]
        bounds = np.searchsorted(rows, np.arange(n + 1)).tolist()
        words = [names[t] for t in tids.tolist()]
        full_l = np.asarray(full, dtype=bool).tolist()
        out: list[list[str]] = []
        for i in range(n):
            cand = words[bounds[i] : bounds[i + 1]]
            if full_l[i]:
                text = _plain(papers[i]) if len(papers) == n else None
                out.append(_prefer_phrases(cand, text))
            else:
                out.append(cand[:WHY_WORDS])
        return out

    # -- identity ---------------------------------------------------------------------------------------
    @property
    def format(self) -> str:
        """The file format this model needs: 2 when its vocabulary carries title roles, else 1 (older readers)."""
        return FORMAT if self.vocab.roles else FORMAT_V1

    def _arrays(self) -> dict[str, Any]:
        import numpy as np

        meta_v, arrays = self.vocab.to_arrays()
        arrays.update(
            rel_coef=np.asarray(self.rel_coef, dtype=np.float16),
            rel_intercept=np.asarray(self.rel_intercept, dtype=np.float64),
            calib_x=np.asarray(self.calib_x, dtype=np.float64),
            calib_y=np.asarray(self.calib_y, dtype=np.float64),
            area_coef=np.asarray(self.area_coef, dtype=np.float16),
            area_intercept=np.asarray(self.area_intercept, dtype=np.float64),
            leaf_coef=np.asarray(self.leaf_coef, dtype=np.float16),
            leaf_intercept=np.asarray(self.leaf_intercept, dtype=np.float64),
        )
        meta = {
            "format": self.format,
            "vocab": meta_v,
            "areas": self.areas,
            "leaves": self.leaves,
            "sections": self.sections,
            "threshold": float(self.threshold),
            "leaf_min": float(self.leaf_min),
            "sklearn": self.card.get("libraries", {}).get("scikit-learn", sklearn_version()),
        }
        arrays["meta_json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
        return arrays

    def _content_hash(self) -> str:
        h = hashlib.sha256()
        for name, arr in sorted(self._arrays().items()):
            h.update(name.encode())
            h.update(arr.tobytes())
        return h.hexdigest()[:16]


def _topical(words: Sequence[str], stop: set[str]) -> bool:
    """Whether a term (its words) may be shown as a `why` reason: not generic, not a number, not a title role."""
    from lfmwatch.model.why_filter import is_noise

    if any(w in stop or w.isdigit() or len(w) < 2 or w.startswith(ROLE_MARK) for w in words) or is_noise(words):
        return False
    if len(words) == 1:
        return words[0] not in GENERIC_WORDS
    return not any(w in FILLER_WORDS for w in words) and not all(w in GENERIC_WORDS for w in words)


def _plain(paper: Mapping[str, Any]) -> str:
    """Title and abstract as lowercased words separated by single spaces, space-padded."""
    text = f"{paper.get('title') or ''} {paper.get('abstract') or ''}".lower()
    return " " + " ".join(_WORD.findall(text)) + " "


def _prefer_phrases(cand: Sequence[str], text: str | None = None) -> list[str]:
    """The first WHY_WORDS terms: phrases only as written in `text` (when given), and no word that a phrase among
    the candidates already contains."""
    if text is not None:
        cand = [t for t in cand if " " not in t or f" {t} " in text]
    in_phrase = {w for t in cand if " " in t for w in t.split()}
    out = [t for t in cand if " " in t or t not in in_phrase]
    return out[:WHY_WORDS]


def combine_stages(z: Any) -> Any:
    """Raw relevance score from the stages' logits (rows x stages): the logit itself for one stage, else the sum of
    the stages' log-probabilities (a paper must pass all of them)."""
    import numpy as np

    if z.shape[1] == 1:
        return z[:, 0]
    return -np.logaddexp(0.0, -z).sum(axis=1)


def _softmax(z: Any) -> Any:
    import numpy as np

    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _raw_at(model: LfmModel, prob: float) -> float:
    """Smallest raw score whose calibrated probability reaches `prob` (for the why direction)."""
    import numpy as np

    ok = np.flatnonzero(np.asarray(model.calib_y) >= prob)
    return float(model.calib_x[ok[0]]) if len(ok) else float("inf")
