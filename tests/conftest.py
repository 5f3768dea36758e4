"""Shared fixtures: isolated working directory and environment, the optional ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's environment or writes outside its tmp dir."""
    for var in list(os.environ):
        if var.startswith(("LFMWATCH_", "GITHUB_", "OPENAI_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LFMWATCH_DB", str(tmp_path / "state.db"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip the test cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
