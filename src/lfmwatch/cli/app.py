"""The object every command receives: configuration loaded once, store opened on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.store.db import Store


@dataclass
class App:
    """What every command needs: the configuration (loaded once) and the store (opened on demand)."""

    config_path: Path | None = None
    _config: Config | None = None
    _store: Store | None = None
    _closers: list[Any] = field(default_factory=list)

    @property
    def config(self) -> Config:
        """The validated configuration."""
        if self._config is None:
            from lfmwatch.config import load_config

            self._config = load_config(self.config_path)
        return self._config

    @property
    def store(self) -> Store:
        """The store at LFMWATCH_DB (default state.db), migrated."""
        if self._store is None:
            from lfmwatch.store.db import open_store

            self._store = open_store(self.config.db_path)
        return self._store

    def close(self) -> None:
        """Close what was opened."""
        if self._store is not None:
            self._store.close()
            self._store = None


pass_app = click.make_pass_decorator(App)
