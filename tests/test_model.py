"""The classifier on a tiny synthetic corpus: features, fit, predict fields, persistence, classify (file and store)."""

from __future__ import annotations

import json
import random

import pytest

from lfmwatch.errors import ModelError
from lfmwatch.model.examples import TrainingExample, example

SECTIONS = {
    "Model Reuse > Model Fusion > Weight Interpolation": "merging weights interpolation soup merged checkpoints averaging",
    "Model Editing > Memory Based Model Editing": "editing knowledge edit memory facts editor counterfactual",
    "Model Editing > Parameter Based Model Editing > Locate And Edit": "locate neurons edit causal tracing rank update",
}
FILLER = ("we study a method results show experiments benchmark data performance approach propose novel large "
          "model network training task").split()
NEG_TOPICS = ["galaxy spectra telescope redshift", "protein folding molecule docking", "traffic road vehicle forecast",
              "medical segmentation tumor scans", "robot grasping manipulation policy"]


def _text(rng: random.Random, topic: str, n: int = 30) -> str:
    words = topic.split()
    return " ".join(rng.choice(words) if rng.random() < 0.45 else rng.choice(FILLER) for _ in range(n))


def tiny_examples(seed: int = 0, n_pos: int = 24, n_neg: int = 200) -> list[TrainingExample]:
    """Positives with section-specific words, negatives on other topics."""
    rng = random.Random(seed)
    out = []
    for s, (section, topic) in enumerate(SECTIONS.items()):
        for i in range(n_pos):
            kind = "label_top" if i % 6 == 5 else "label"
            out.append(example(f"2401.{s}{i:04d}", _text(rng, topic, 8), _text(rng, topic), section, kind))
    for i in range(n_neg):
        topic = NEG_TOPICS[i % len(NEG_TOPICS)]
        out.append(example(f"2402.{i:05d}", _text(rng, topic, 8), _text(rng, topic), None, "negative"))
    return out


@pytest.fixture(scope="module")
def tiny_model():
    from lfmwatch.model.fit import FitOptions, fit_model

    opts = FitOptions(folds=2, min_df_keep=1, min_pos_df_keep=1, stream_prior=0.1)
    return fit_model(tiny_examples(), sections=[*SECTIONS, "Model Distillation > Noise Optimization"],
                     target_precision=0.9, options=opts, command="test")


def test_vectoriser_matches_sklearn_tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from lfmwatch.model.features import fit_vocabulary

    docs = [{"title": "", "abstract": t} for t in (
        "Learning from models: merging the weights of fine-tuned models",
        "Model merging and weight averaging of fine-tuned models",
        "Knowledge editing of large language models with memory",
        "Editing memory in language models, and merging models",
    )]
    vocab = fit_vocabulary(docs, min_df=(1, 1), max_df=1.0)
    ours = vocab.transform(docs).toarray()[:, vocab.offsets[1]:]
    ref = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english")
    R = ref.fit_transform([" " + d["abstract"] for d in docs]).toarray()
    terms = vocab.terms()[vocab.offsets[1]:]
    assert sorted(terms) == sorted(ref.get_feature_names_out())
    col = {t: i for i, t in enumerate(ref.get_feature_names_out())}
    import numpy as np

    np.testing.assert_allclose(ours, R[:, [col[t] for t in terms]], rtol=1e-5, atol=1e-6)


def test_predict_fields_relevance_and_sections(tiny_model):
    rng = random.Random(7)
    papers = [{"id": f"x{i}", "title": _text(rng, topic, 8), "abstract": _text(rng, topic)}
              for i, topic in enumerate(SECTIONS.values())]
    papers += [{"id": "n1", "title": _text(rng, NEG_TOPICS[0], 8), "abstract": _text(rng, NEG_TOPICS[0])}]
    preds = tiny_model.predict(papers)
    assert [set(p) for p in preds] == [{"relevant", "score", "section", "section_score", "sections", "why"}] * 4
    for p, section in zip(preds, SECTIONS, strict=False):
        assert p["relevant"] is True and p["score"] > preds[3]["score"]
        assert p["section"] == section
        assert p["sections"][0][0] == section and len(p["sections"]) == 3
        assert p["sections"][0][1] >= p["sections"][1][1] >= p["sections"][2][1]
        assert 0 < p["section_score"] <= 1
        assert p["why"] and all(isinstance(w, str) and w in (papers[0]["title"] + " " + " ".join(
            x["title"] + " " + x["abstract"] for x in papers)).lower() for w in p["why"])
    assert preds[3]["relevant"] is False and 0 <= preds[3]["score"] < tiny_model.threshold
    assert tiny_model.predict([]) == []
    import gc

    assert gc.isenabled()  # predict pauses the cyclic GC for its own allocations only


def test_why_words_are_topical_never_generic(tiny_model):
    from lfmwatch.model.classifier import FILLER_WORDS, GENERIC_WORDS

    paper = {"id": "w", "title": "Using model merging: we introduce weight interpolation of merged checkpoints",
             "abstract": "Based on data from a study, we propose a novel approach using model soups and merging "
                         "weights by averaging merged checkpoints; results show the merged model improves."}
    pred = tiny_model.predict([paper])[0]
    assert pred["relevant"] is True
    why = pred["why"]
    assert why and {"merging", "merged", "checkpoints", "interpolation", "soups", "averaging", "weights"} & {
        w for t in why for w in t.split()}
    for term in why:
        words = term.split()
        assert not (len(words) == 1 and words[0] in GENERIC_WORDS), term
        assert not FILLER_WORDS & set(words), term
        assert f" {term} " in " " + " ".join(paper["title"].lower().replace(":", " ").split()) + " " or \
            term in paper["abstract"].lower() or term in paper["title"].lower(), term  # plain text from the paper
    # Phrases are preferred: a word already shown inside a phrase is not repeated alone.
    phrases = [t for t in why if " " in t]
    assert not {t for t in why if " " not in t} & {w for t in phrases for w in t.split()}


def test_threshold_override_and_card(tiny_model):
    paper = {"id": "y", "title": "merging weights", "abstract": "soup averaging merged checkpoints"}
    assert tiny_model.predict([paper], threshold=1.0)[0]["relevant"] is False
    assert tiny_model.predict([paper], threshold=0.0)[0]["relevant"] is True
    card = tiny_model.card
    assert card["unpredictable_sections"] == ["Model Distillation > Noise Optimization"]
    assert card["data"]["positives"] == 72 and card["threshold"] == tiny_model.threshold
    assert card["data"]["leaf_examples"]["Model Editing > Memory Based Model Editing"] == 20  # top labels excluded
    assert set(card["libraries"]) >= {"scikit-learn", "numpy"}


def test_save_load_roundtrip(tiny_model, tmp_path):
    from lfmwatch.model.io import card_path, load_model, save_model

    path = save_model(tiny_model, tmp_path / "models" / "m.npz")
    assert card_path(path).exists()
    card = json.loads(card_path(path).read_text())
    assert card["version"] == tiny_model.version and card["command"] == "test"
    loaded = load_model(path)
    assert loaded.version == tiny_model.version
    assert loaded.sections == tiny_model.sections and loaded.threshold == tiny_model.threshold
    paper = [{"id": "z", "title": "locate neurons", "abstract": "causal tracing rank update of neurons edit"}]
    assert loaded.predict(paper) == tiny_model.predict(paper)
    # The file is plain arrays: numpy can read every member without pickle.
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        assert "meta_json" in data.files
        assert {data[k].dtype for k in ("rel_coef", "area_coef", "leaf_coef")} == {np.dtype(np.float16)}


def test_load_errors(tiny_model, tmp_path):
    from lfmwatch.model.io import load_model, save_model

    with pytest.raises(ModelError) as missing:
        load_model(tmp_path / "nope.npz")
    assert "lfmwatch train" in str(missing.value)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="retrain"):
        load_model(junk)
    # A model made by any other scikit-learn loads: prediction is NumPy only.
    tiny_model.card["libraries"] = {**tiny_model.card["libraries"], "scikit-learn": "0.19.2"}
    try:
        other = save_model(_copy(tiny_model), tmp_path / "old.npz")
    finally:
        tiny_model.card["libraries"]["scikit-learn"] = __import__("lfmwatch.model.classifier").model.classifier.sklearn_version()
    assert load_model(other).threshold == tiny_model.threshold


def _copy(model, **changes):
    keys = ("vocab", "rel_coef", "rel_intercept", "calib_x", "calib_y", "areas", "area_coef", "area_intercept",
            "leaves", "leaf_coef", "leaf_intercept", "threshold", "sections", "leaf_min", "card")
    return type(model)(**{k: changes.get(k, getattr(model, k)) for k in keys})


def _rewrite_npz(src, dst, **replace):
    """Copy a model file, replacing some of its arrays (raw bytes for a hand-made member)."""
    import io
    import zipfile

    import numpy as np

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            name = info.filename[:-4]
            if name in replace:
                value = replace[name]
                if not isinstance(value, bytes):
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, value)
                    value = buf.getvalue()
                zout.writestr(info.filename, value)
            else:
                zout.writestr(info.filename, zin.read(info))


def test_unknown_format_version_is_refused_with_advice(tiny_model, tmp_path):
    import numpy as np

    from lfmwatch.model.io import load_model, save_model

    path = save_model(tiny_model, tmp_path / "m.npz")
    with np.load(path) as data:
        meta = json.loads(data["meta_json"].tobytes())
    meta["format"] = "lfmwatch-model/9"
    _rewrite_npz(path, tmp_path / "new.npz", meta_json=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with pytest.raises(ModelError) as exc:
        load_model(tmp_path / "new.npz")
    assert "lfmwatch-model/9" in str(exc.value) and "pip install -U lfmwatch" in str(exc.value)


def test_card_of_another_model_is_an_error(tiny_model, tmp_path):
    from lfmwatch.model.io import card_path, load_model, save_model

    old = save_model(tiny_model, tmp_path / "old" / "m.npz")
    new = save_model(_copy(tiny_model, threshold=tiny_model.threshold / 2), tmp_path / "new" / "m.npz")
    card_path(new).write_text(card_path(old).read_text())  # a retrained .npz beside the old card
    with pytest.raises(ModelError) as exc:
        load_model(new)
    text = str(exc.value)
    assert tiny_model.version in text and "different trainings" in text and "git checkout models/" in text
    card_path(new).unlink()  # no card at all: the weights are their own identity
    assert load_model(new).version != tiny_model.version


def test_non_finite_weights_are_refused(tiny_model, tmp_path):
    import numpy as np

    from lfmwatch.model.io import load_model, save_model

    path = save_model(tiny_model, tmp_path / "m.npz")
    with np.load(path) as data:
        coef = data["rel_coef"].copy()
    coef.flat[0] = np.nan
    _rewrite_npz(path, tmp_path / "nan.npz", rel_coef=coef)
    with pytest.raises(ModelError, match="NaN or infinite weights .*rel_coef"):
        load_model(tmp_path / "nan.npz")


def test_decompression_bomb_is_refused_before_reading(tiny_model, tmp_path, monkeypatch):
    import numpy as np

    from lfmwatch.model import io as model_io
    from lfmwatch.model.io import load_model, save_model

    path = save_model(tiny_model, tmp_path / "m.npz")
    # An .npy header that claims a terabyte array over a few bytes of data.
    header = {"descr": "<f8", "fortran_order": False, "shape": (2**37,)}
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    _rewrite_npz(path, tmp_path / "liar.npz", idf=buf.getvalue() + b"\0" * 64)
    with pytest.raises(ModelError, match="claims"):
        load_model(tmp_path / "liar.npz")
    # Members that really unpack to more than the limit (set low here: the real one is 512 MB).
    monkeypatch.setattr(model_io, "MAX_MODEL_BYTES", 4096)
    with pytest.raises(ModelError, match="over the 0 MB limit|unpack to"):
        load_model(path)


def test_model_loads_and_predicts_without_scikit_learn(tiny_model, tmp_path):
    """Loading and prediction import no scikit-learn, so any installed version (or none) serves the model."""
    import subprocess
    import sys

    from lfmwatch.model.io import save_model

    path = save_model(tiny_model, tmp_path / "m.npz")
    code = (
        "import sys, json\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'sklearn' or name.startswith('sklearn.'):\n"
        "            raise ImportError('scikit-learn is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from lfmwatch.model.io import load_model\n"
        "m = load_model(sys.argv[1])\n"
        "p = m.predict([{'id': 'x', 'title': 'merging weights soup', 'abstract': 'merged checkpoints averaging'}])\n"
        "assert not any(k.startswith('sklearn') for k in sys.modules)\n"
        "print(json.dumps(p[0]['section']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    expected = tiny_model.predict([{"id": "x", "title": "merging weights soup",
                                    "abstract": "merged checkpoints averaging"}])[0]["section"]
    assert json.loads(proc.stdout) == expected


def test_classify_jsonl_reports_bad_lines(tiny_model, tmp_path):
    from lfmwatch.run.classify import classify_jsonl

    src = tmp_path / "in.jsonl"
    good = {"id": "2501.00001", "title": "merging weights soup", "abstract": "merged checkpoints averaging",
            "categories": ["cs.LG"]}
    src.write_text("\n".join([
        json.dumps(good), "{not json", json.dumps({"id": "2501.00002", "title": "no abstract"}), "",
        json.dumps([1, 2]), json.dumps({**good, "id": "2501.00003"}),
    ]) + "\n")
    dst = tmp_path / "out.jsonl"
    written, bad = classify_jsonl(tiny_model, src, dst)
    assert written == 2
    assert [n for n, _ in bad] == [2, 3, 5]
    assert "abstract" in bad[1][1]
    rows = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["2501.00001", "2501.00003"]
    assert rows[0]["categories"] == ["cs.LG"] and rows[0]["section"].startswith("Model Reuse")
    assert {"relevant", "score", "section", "section_score", "sections", "why"} <= set(rows[0])


def test_classify_store_is_idempotent(tiny_model, tmp_path):
    from lfmwatch.run.classify import classify_store
    from lfmwatch.store.db import open_store
    from lfmwatch.store.papers import upsert_papers

    store = open_store(tmp_path / "state.db")
    rng = random.Random(3)
    papers = [{"id": f"2503.{i:05d}", "title": _text(rng, t, 8), "abstract": _text(rng, t)}
              for i, t in enumerate([*SECTIONS.values(), *NEG_TOPICS])]
    upsert_papers(store, papers, "test")
    first = classify_store(store, tiny_model, batch=3)
    assert first["classified"] == len(papers) and first["relevant"] >= 3
    assert classify_store(store, tiny_model)["classified"] == 0
    rows = store.db.execute("SELECT paper_id, model_version, sections, why FROM predictions").fetchall()
    assert len(rows) == len(papers) and {r[1] for r in rows} == {tiny_model.version}
    assert len(json.loads(rows[0][2])) == 3 and isinstance(json.loads(rows[0][3]), list)
    store.close()


def test_readme_entries_from_the_engine():
    from lfmwatch.model.examples import readme_entries

    text = """# Title\n## Table of Contents\n- [x](#a)\n## Papers\n## Model Reuse\n### Model Fusion\n
#### Weight Interpolation\n- [[arXiv](https://arxiv.org/abs/2203.05482)] Model soups\n<!-- - [[arXiv](https://arxiv.org/abs/2001.00001)] hidden -->
## Citation\n- [[arXiv](https://arxiv.org/abs/2111.11111)] cite us\n"""
    entries, sections = readme_entries(text, ["Table of Contents", "Citation", "Papers"])
    assert entries == [("2203.05482", "Model Reuse > Model Fusion > Weight Interpolation", "Model soups")]
    assert sections == ["Model Reuse", "Model Reuse > Model Fusion", "Model Reuse > Model Fusion > Weight Interpolation"]


def test_relevance_inputs_weigh_judged_positives_and_keep_curated_ones():
    """A reviewed include (a paper some model picked, judged in scope) counts judged_positive_weight times a
    curated label; a reviewed paper that a curated list also holds keeps the label's weight."""
    from lfmwatch.model.fit import FitOptions, relevance_inputs

    ex = tiny_examples()
    text = ex[0]
    ex += [example("2403.00001", text.title, text.abstract, text.section, "reviewed_pos"),
           example(text.id, None, None, text.section, "reviewed_pos")]
    opts = FitOptions(min_df_keep=1, min_pos_df_keep=1)
    rel = relevance_inputs(ex, opts)
    weight = {p.id: float(w) for p, w in zip(rel.papers, rel.w, strict=True)}
    assert opts.judged_positive_weight > 1
    assert weight["2403.00001"] == opts.judged_positive_weight * weight["2401.00001"]
    assert weight[text.id] == weight["2401.00001"]
    assert rel.X.shape == (len(rel.papers), rel.vocab.n_features)
    plain = relevance_inputs(ex, FitOptions(min_df_keep=1, min_pos_df_keep=1, judged_positive_weight=1.0))
    assert {p.id: float(w) for p, w in zip(plain.papers, plain.w, strict=True)}["2403.00001"] == weight["2401.00001"]


def test_stage_scores_are_combined_the_same_in_training_and_prediction(tiny_model):
    """One stage: its logit; several: the sum of their log-probabilities. The model's raw score is that of its
    stages' logits, so the out-of-fold scores the threshold is set on mean what prediction computes."""
    import numpy as np

    from lfmwatch.model.classifier import combine_stages

    z = np.array([[2.0, -1.0], [0.0, 0.0]])
    assert combine_stages(z[:, :1]).tolist() == [2.0, 0.0]
    expected = np.log(1 / (1 + np.exp(-z))).sum(axis=1)
    assert np.allclose(combine_stages(z), expected)
    X = tiny_model.vocab.transform([{"title": "merging weights", "abstract": "soup of merged checkpoints"}])
    logits = np.asarray(X @ tiny_model.rel_coef, dtype=np.float64) + tiny_model.rel_intercept
    assert tiny_model.rel_coef.shape[1] == 2
    assert np.allclose(tiny_model.raw_scores(X), combine_stages(logits))


def test_section_models_weigh_the_title_as_fitted():
    """The area model is fitted on features whose title block is scaled by section_title_weight; the stored
    coefficients carry that scale, so plain features at inference give the fitted model's probabilities."""
    import numpy as np
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    from lfmwatch.model.features import fit_vocabulary
    from lfmwatch.model.fit import FitOptions, fit_sections, section_training_sets
    from lfmwatch.records import area_of

    area_rows, leaf_rows = section_training_sets(tiny_examples())
    docs = [{"title": e.title, "abstract": e.abstract} for e in area_rows]
    vocab = fit_vocabulary(docs)
    opts = FitOptions(section_title_weight=0.25)
    parts = fit_sections(vocab, area_rows, leaf_rows, opts)
    X = vocab.transform(docs)
    scale = np.ones(X.shape[1])
    scale[: vocab.offsets[1]] = 0.25
    ref = LogisticRegression(C=opts.c_area, max_iter=300, random_state=opts.seed, class_weight="balanced").fit(
        X @ sp.diags(scale), [area_of(e.section or "") for e in area_rows])
    z = np.asarray(X @ parts["area_coef"], dtype=np.float64) + parts["area_intercept"]
    assert parts["areas"] == list(ref.classes_) and len(parts["areas"]) == 2
    # Binary: the stored two logits differ by the fitted one.
    assert np.allclose(z[:, 1] - z[:, 0], ref.decision_function(X @ sp.diags(scale)), atol=1e-3)
    unscaled = fit_sections(vocab, area_rows, leaf_rows, FitOptions(section_title_weight=1.0))
    assert not np.allclose(unscaled["area_coef"][: vocab.offsets[1]], parts["area_coef"][: vocab.offsets[1]])
