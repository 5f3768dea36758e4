"""Section-path helpers shared by training, the model, the backtest, the digest and sync (lfmwatch.records)."""

from __future__ import annotations

import pytest

from lfmwatch.awesome import parse_list
from lfmwatch.records import (
    area_among,
    area_of,
    parent_section,
    resolve_section,
    section_parts,
    section_path,
    split_section,
)

LEAF = "Model Reuse > Model Fusion > Weight Interpolation"


def test_paths() -> None:
    assert section_parts(" Model Reuse >  Model Fusion > ") == ["Model Reuse", "Model Fusion"]
    assert area_of(LEAF) == "Model Reuse" and area_of(None) == "" and area_of("Model Tuning") == "Model Tuning"
    assert parent_section(LEAF) == "Model Reuse > Model Fusion" and parent_section("Model Reuse") is None
    assert split_section(LEAF) == ("Model Reuse", "Model Fusion > Weight Interpolation")
    assert split_section("", unfiled="?") == ("?", "?")


def test_area_among_refuses_unknown_areas() -> None:
    assert area_among(LEAF, ["Model Tuning", "Model Reuse"]) == "Model Reuse"
    with pytest.raises(ValueError, match="under no known area"):
        area_among("Model Reuser > X", ["Model Reuse"])  # a prefix of a name is not its area


def test_section_path_of_engine_sections() -> None:
    lst = parse_list("# T\n\n## A\n\n### B\n")
    assert [section_path(s) for s in lst.sections] == ["A", "A > B"]
    assert section_path("A > B") == "A > B" and section_path(None) is None


@pytest.mark.parametrize(("name", "expected"), [
    ("Model Reuse>Model Fusion > Weight Interpolation", LEAF),
    ("model reuse > model fusion > weight interpolation", LEAF),
    ("`Weight Interpolation`", LEAF),
    ("Meta Learning", None),  # two leaves end so: ambiguous
    ("Nowhere", None),
])
def test_resolve_section(name: str, expected: str | None) -> None:
    sections = [LEAF, "Model Tuning > Meta Learning", "Model Editing > Meta Learning"]
    assert resolve_section(name, sections) == expected
