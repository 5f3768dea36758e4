"""What one daily run read from GitHub, shared by its stages so that each reads what it needs once (issue 12).

Safe by construction:
- Files are kept by commit sha: a commit's README never changes, so the base README sync read is the one select
  and propose parse, even after a write (a write makes a new commit, read under its own sha).
- The base branch head sync read is handed to select once (`take_base_head`); sync writes nothing on GitHub.
- The bot branch state select read is handed to propose once (`take_state`), only when select left no merge to do
  (propose with writes allowed would merge the base into the branch first). Propose re-checks an open PR with one
  read of that PR before it writes (a PR closed or pushed to meanwhile means a fresh read); a conflict or retry
  always reads afresh, and a write never refills the hand-offs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lfmwatch.adapters.github import FileContent, GitHubRepo
    from lfmwatch.pr.branch import BranchState


@dataclass
class RunReads:
    """A per-run cache of GitHub reads, passed through the daily run's context."""

    files: dict[tuple[str, str, str], FileContent | None] = field(default_factory=dict)
    base_heads: dict[tuple[str, str], str | None] = field(default_factory=dict)
    state: BranchState | None = None

    def read_file(self, repo: GitHubRepo, path: str, sha: str) -> FileContent | None:
        """`path` at commit `sha` (read from GitHub the first time only)."""
        key = (repo.full_name, path, sha)
        if key not in self.files:
            self.files[key] = repo.read_file(path, sha)
        return self.files[key]

    def base_head(self, repo: GitHubRepo, branch: str) -> str | None:
        """Read the head of the base branch and keep it for the next `take_base_head`."""
        sha = repo.branch_sha(branch)
        self.base_heads[(repo.full_name, branch)] = sha
        return sha

    def take_base_head(self, repo: GitHubRepo, branch: str) -> tuple[bool, str | None]:
        """(True, sha) once after `base_head` read it; (False, None) when it must be read."""
        key = (repo.full_name, branch)
        if key in self.base_heads:
            return True, self.base_heads.pop(key)
        return False, None

    def keep_state(self, state: BranchState) -> None:
        """Hand select's read of the bot branch to propose (not when propose would merge the base in first)."""
        self.state = None if state.merge_pending else state

    def take_state(self) -> BranchState | None:
        """Select's read of the bot branch, once; None when propose must read it."""
        state, self.state = self.state, None
        return state

    def invalidate(self) -> None:
        """Forget the hand-offs (the files by commit sha stay true)."""
        self.base_heads.clear()
        self.state = None
