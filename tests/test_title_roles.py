"""Title roles: 'merging for X' and 'X via merging' give different features; models with them are format 2."""

from __future__ import annotations

import numpy as np
from tests.test_model import SECTIONS, tiny_examples

from lfmwatch.model.classifier import FORMAT, FORMAT_V1
from lfmwatch.model.features import Vocabulary, fit_vocabulary, title_roles
from lfmwatch.model.fit import FitOptions, fit_model
from lfmwatch.model.io import load_model, save_model


def test_title_roles_mark_tool_and_target_words():
    assert title_roles("Adapting Multilingual Models to Code-Mixed Tasks via Model Merging") == (
        "zzforcode zzformixed zzfortasks zzviamodel zzviamerging")
    # A short name before a colon is skipped; `of` keeps the current role.
    assert title_roles("UP-Person: Transfer Learning for Text-based Person Retrieval") == (
        "zzfortext zzforbased zzforperson zzforretrieval")
    assert title_roles("Parameter Averaging in Link Prediction of Graphs") == "zzforlink zzforprediction zzforgraphs"
    assert title_roles("Model Merging") == "zzplain"
    assert title_roles("") == "zzplain"


def test_roles_are_features_and_survive_the_file_format():
    docs = [{"title": t, "abstract": "a study of merged weights"} for t in (
        "Model merging for retrieval", "Retrieval via model merging", "Model merging for retrieval tasks",
        "Retrieval tasks via model merging")]
    vocab = fit_vocabulary(docs, min_df=(1, 1), roles=True)
    assert {"zzforretrieval", "zzviamerging"} <= set(vocab.terms())
    X = vocab.transform(docs)
    # Same words, different roles: the two titles are no longer the same vector.
    assert abs((X[0] - X[1]).sum()) > 0 or (X[0] != X[1]).nnz > 0
    meta, arrays = vocab.to_arrays()
    again = Vocabulary.from_arrays(meta, arrays)
    assert again.roles and (again.transform(docs) != X).nnz == 0
    plain = fit_vocabulary(docs, min_df=(1, 1))
    assert not plain.roles and not any(t.startswith("zz") for t in plain.terms())


def test_model_with_roles_is_format_2_and_never_shows_a_role_as_why(tmp_path):
    examples = tiny_examples()
    opts = dict(folds=2, min_df_keep=1, min_pos_df_keep=1, stream_prior=0.1)
    model = fit_model(examples, sections=list(SECTIONS), options=FitOptions(**opts), command="test")
    assert model.vocab.roles and model.format == FORMAT
    path = save_model(model, tmp_path / "m.npz")
    loaded = load_model(path)
    papers = [{"title": f"{e.title} via merging for editing", "abstract": e.abstract} for e in examples[:40]]
    a, b = model.predict(papers, threshold=0.0), loaded.predict(papers, threshold=0.0)
    assert np.allclose([p["score"] for p in a], [p["score"] for p in b], atol=1e-3)
    assert not any(w.startswith("zz") for p in b for w in p["why"])
    # Without roles a model is written as format 1, readable by older lfmwatch.
    old = fit_model(examples, sections=list(SECTIONS), options=FitOptions(**opts, title_roles=False), command="test")
    assert old.format == FORMAT_V1 and load_model(save_model(old, tmp_path / "old.npz")).format == FORMAT_V1
