"""A model on disk: one `.npz` read with `allow_pickle=False` (loading executes no code) plus a JSON card beside it.

We do not use skops because the model holds no scikit-learn estimator at inference time: prediction is a sparse
matrix product, so a pickle-free array file is both safer and faster to load (well under the 3 s CLI budget).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lfmwatch.errors import ModelError
from lfmwatch.model.classifier import FORMAT, READABLE_FORMATS, TRAIN_HINT, LfmModel
from lfmwatch.model.features import Vocabulary


def card_path(path: str | Path) -> Path:
    """The JSON card that sits beside a model file: `lfm-model.npz` -> `lfm-model.card.json`."""
    p = Path(path)
    return p.with_name(p.stem + ".card.json")


def save_model(model: LfmModel, path: str | Path) -> Path:
    """Write the model (`.npz`, pickle-free) and its JSON card beside it; returns the model path."""
    import numpy as np

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    arrays = model._arrays()
    card = dict(model.card)
    card.update(version=model.version, threshold=float(model.threshold), format=model.format)
    tmp = p.with_name(p.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        tmp.replace(p)
        card_path(p).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"{p}: cannot write the model: {exc.strerror or exc}") from exc
    return p


def load_model(path: str | Path) -> LfmModel:
    """Read a model written by save_model; ModelError when missing, unreadable, of an unknown format, oversized,
    holding non-finite weights, or when its card describes another model.

    Loading needs only NumPy (no scikit-learn import), so a model loads under any scikit-learn the package allows;
    only the file *format* version is checked.
    """
    import numpy as np

    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no model file", f"train one with `lfmwatch train --out {p}` or set model.path")
    _check_sizes(p)
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(arrays.pop("meta_json").tobytes().decode("utf-8"))
    except Exception as exc:  # zip, npy or JSON damage all mean the same thing to the user
        raise ModelError(f"{p}: not a readable lfmwatch model ({exc})", f"retrain it: {TRAIN_HINT}") from exc
    if not isinstance(meta, dict) or meta.get("format") not in READABLE_FORMATS:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelError(
            f"{p}: model format {found!r} is not one this lfmwatch reads ({FORMAT})",
            f"upgrade lfmwatch if the model is newer (pip install -U lfmwatch), else retrain it: {TRAIN_HINT}",
        )
    bad = sorted(k for k, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all())
    if bad:
        raise ModelError(f"{p}: the model holds NaN or infinite weights ({', '.join(bad)})",
                         f"the file is damaged or training diverged: retrain it: {TRAIN_HINT}")
    card: dict[str, Any] = {}
    if card_path(p).exists():
        try:
            card = json.loads(card_path(p).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{card_path(p)}: unreadable model card ({exc})",
                             f"restore it beside {p.name} (git checkout {card_path(p)}) or retrain: {TRAIN_HINT}") from exc
        if not isinstance(card, dict):
            raise ModelError(f"{card_path(p)}: the model card is not a JSON object", f"retrain: {TRAIN_HINT}")
    vocab = Vocabulary.from_arrays(meta["vocab"], arrays)
    model = LfmModel(
        vocab=vocab,
        rel_coef=arrays["rel_coef"].astype(np.float32),
        rel_intercept=arrays["rel_intercept"],
        calib_x=arrays["calib_x"],
        calib_y=arrays["calib_y"],
        areas=list(meta["areas"]),
        area_coef=arrays["area_coef"].astype(np.float32),
        area_intercept=arrays["area_intercept"],
        leaves=list(meta["leaves"]),
        leaf_coef=arrays["leaf_coef"].astype(np.float32),
        leaf_intercept=arrays["leaf_intercept"],
        threshold=float(meta["threshold"]),
        sections=list(meta["sections"]),
        leaf_min=float(meta.get("leaf_min", 0.4)),
        card=card,
    )
    claimed = card.get("version")
    if claimed and str(claimed) != model.version:
        raise ModelError(
            f"{card_path(p)} describes model {claimed} but {p.name} is model {model.version}: "
            "the card and the weights come from different trainings",
            "keep the two files together: restore the matching pair (e.g. git checkout models/) or retrain "
            f"(`lfmwatch train` writes both): {TRAIN_HINT}",
        )
    return model


MAX_MODEL_BYTES = 512 * 2**20  # uncompressed arrays in one model file; the default model holds about 10 MB


def _check_sizes(p: Path) -> None:
    """Refuse a model file whose arrays would unpack to more than MAX_MODEL_BYTES (a decompression bomb) before
    any array is read: the zip directory's sizes and each .npy header's shape are checked."""
    import zipfile

    import numpy as np

    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_MODEL_BYTES:
                raise ModelError(f"{p}: the model's arrays unpack to {total / 2**20:.0f} MB, over the "
                                 f"{MAX_MODEL_BYTES // 2**20} MB limit", "this is not an lfmwatch model: retrain it")
            for info in infos:
                with zf.open(info) as fh:
                    fmt = np.lib.format
                    read_header = fmt.read_array_header_1_0 if fmt.read_magic(fh) == (1, 0) else fmt.read_array_header_2_0
                    shape, _, dtype = read_header(fh)
                need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if dtype.hasobject or need > info.file_size:
                    raise ModelError(f"{p}: array {info.filename} claims {need} bytes but holds {info.file_size}",
                                     f"the file is damaged: retrain it: {TRAIN_HINT}")
    except ModelError:
        raise
    except Exception as exc:  # not a zip, not .npy members
        raise ModelError(f"{p}: not a readable lfmwatch model ({exc})", f"retrain it: {TRAIN_HINT}") from exc
