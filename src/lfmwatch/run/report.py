"""What a daily run did: one StageResult per stage and the RunReport (recorded in the runs table, printed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StageResult:
    """What one stage did."""

    name: str
    status: str = "ok"  # ok | skipped | failed
    counts: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    note: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        """One line: the counts, the note, the number of errors."""
        shown = [(k, v) for k, v in self.counts.items() if not isinstance(v, dict | list)]
        # Zero counts are noise (sync: moved 0, ignored 0...), except the first, which says "nothing".
        shown = [(k, v) for i, (k, v) in enumerate(shown) if i == 0 or v not in (0, None)]
        parts = [", ".join(f"{k} {v}" for k, v in shown)]
        if self.note:
            parts.append(self.note)
        if self.errors:
            parts.append(f"{len(self.errors)} error(s): {self.errors[0]}")
        text = "; ".join(p for p in parts if p) or self.status
        return text if self.status == "ok" else f"{self.status}: {text}"


@dataclass
class RunReport:
    """The outcome of `run_daily`, as recorded in the runs table and printed."""

    run_id: int | None = None
    status: str = "running"  # ok | failed | interrupted
    dry_run: bool = False
    started: str = ""
    finished: str = ""
    stages: list[StageResult] = field(default_factory=list)
    proposed: list[dict[str, Any]] = field(default_factory=list)
    pr_number: int | None = None
    pr_url: str | None = None
    reason: str = ""
    error: str = ""
    hint: str = ""
    pr_body: str = ""  # dry run: the body the PR would get
    diff: str = ""  # dry run: the README change
    retrain: str = ""  # a retrain since the previous run: its verdict and what it changed (one line)

    def stage(self, name: str) -> StageResult | None:
        """The result of stage `name`, if it ran."""
        return next((s for s in self.stages if s.name == name), None)

    def counts(self) -> dict[str, Any]:
        """Counts per stage, for the runs table."""
        out: dict[str, Any] = {s.name: {**s.counts, "status": s.status, "errors": len(s.errors)} for s in self.stages}
        out["proposed"] = len(self.proposed)
        return out

    def line(self) -> str:
        """The one-line verdict: what was proposed, or why nothing was."""
        prefix = "dry run: would propose" if self.dry_run else "proposed"
        if self.status == "failed":
            return f"run failed in {self.failed_stage() or '?'}: {self.error}"
        if self.status == "interrupted":
            return f"run interrupted: {self.reason or self.error}"
        if self.proposed:
            pr = f" in PR #{self.pr_number}" if self.pr_number else ""
            return f"{prefix} {len(self.proposed)} paper(s){pr}"
        return f"no paper proposed: {self.reason or 'nothing to do'}"

    def failed_stage(self) -> str | None:
        """Name of the stage that stopped the run."""
        # The last failed stage: an earlier one (sync) may have failed without stopping the run.
        return next((s.name for s in reversed(self.stages) if s.status == "failed"), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "line": self.line()}
