"""The weekly digest as a recorded run: the one path of `lfmwatch digest` and the daemon's digest job."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lfmwatch.store.runs import recorded_run

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.digest.send import DigestResult
    from lfmwatch.store.db import Store


def run_digest(store: Store, config: Config, *, week: str | None = None, dry_run: bool = False,
               out_dir: Path | str | None = None, **adapters: Any) -> DigestResult:
    """Build and send the digest of `week` (default: the last complete ISO week), recorded as a "digest" run.

    Sending is idempotent per week (the digests table), so a digest job rerun after a crash sends nothing twice.
    A dry run (files only) records nothing. `adapters` reach `send_digest` (transport, llm, now, sleep).
    """
    from lfmwatch.digest.content import last_complete_week
    from lfmwatch.digest.send import send_digest

    week = week or last_complete_week()
    if dry_run:
        return send_digest(store, config, week, dry_run=True, out_dir=out_dir, **adapters)
    # Its own lock (send_digest takes "digest" while sending): a "running" digest row is then a dead process's.
    with recorded_run(store, "digest", lock="digest-run", window_start=week, window_end=week) as run:
        result = send_digest(store, config, week, out_dir=out_dir, **adapters)
        counts = {k: getattr(result, k, None) for k in ("status", "papers", "sent", "refused", "failed")}
        status = "failed" if result.status == "partial" else "ok"
        run.finish(status, counts=counts, reason=result.line(), error="; ".join(result.errors[:5]) or None)
    return result
