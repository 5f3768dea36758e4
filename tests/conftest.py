"""Shared fixtures: isolated working directory and environment, the optional ../shared/data, a fresh Store,
the GitHub fake with the list repository of propose_fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lfmwatch.store.db import Store

if TYPE_CHECKING:
    from fakes.github_fake import GitHubFake

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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A Store on a fresh state.db in the test's tmp dir, closed afterwards."""
    with Store(tmp_path / "state.db") as s:
        yield s


@pytest.fixture
def gh() -> Iterator[GitHubFake]:
    """A started GitHub fake with propose_fixtures' list repository and bot token (see make_fake)."""
    from propose_fixtures import make_fake

    with make_fake() as fake:
        yield fake
