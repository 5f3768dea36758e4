"""Error types: every failure a user must act on is an LfmwatchError with a message that says how."""

from __future__ import annotations


class LfmwatchError(Exception):
    """A failure the user must act on; the CLI prints `message` (and `hint`) and exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(LfmwatchError):
    """The configuration file or environment is invalid."""


class StoreError(LfmwatchError):
    """The SQLite store cannot be opened, migrated or written."""


class LockedError(LfmwatchError):
    """Another lfmwatch process holds the lock."""


class NetworkError(LfmwatchError):
    """A remote service (arXiv, GitHub, LLM, SMTP) failed after bounded retries."""


class InputError(LfmwatchError):
    """An input file is missing or malformed beyond recovery."""


class ModelError(LfmwatchError):
    """The model file is missing, incompatible or cannot be trained."""


class ListError(LfmwatchError):
    """The awesome list cannot be parsed or edited as asked (unknown section, duplicate entry...)."""


class GitHubError(NetworkError):
    """GitHub refused or failed an operation."""
