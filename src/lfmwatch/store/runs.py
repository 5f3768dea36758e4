"""A run's row in the `runs` table, from start to end, in one context manager (poll, import, run, digest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lfmwatch.store.db import Store


class RunRecord:
    """The `runs` row of a run in progress; `finish` records its end once (later calls change nothing)."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.id = run_id
        self.finished = False

    def finish(self, status: str, **fields: Any) -> None:
        """Record the end (status ok | failed | interrupted) with counts, reason, error and poll totals."""
        if not self.finished:
            self.store.finish_run(self.id, status, **fields)
            self.finished = True

    def fail(self, exc: BaseException, **fields: Any) -> None:
        """Record the end of a run stopped by `exc`: interrupted for Ctrl-C, failed otherwise."""
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        self.finish(status, **{"error": str(exc) or type(exc).__name__, **fields})


@contextmanager
def recorded_run(store: Store, kind: str, *, lock: str | None = None,
                 on_failure: Callable[[], dict[str, Any]] | None = None, **fields: Any) -> Iterator[RunRecord]:
    """Start a `runs` row of `kind` and make sure it ends, whatever happens in the block.

    With `lock`, the row is started under that named lock after marking the kind's `running` rows interrupted
    (we hold the lock, so their process died). An exception the block did not record itself ends the row
    as interrupted (Ctrl-C) or failed, with the fields `on_failure()` returns; a block that records nothing
    ends `ok`.
    """
    with store.lock(lock) if lock else nullcontext():
        if lock:
            store.abandon_runs(kind)
        run = RunRecord(store, store.start_run(kind, **fields))
        try:
            yield run
        except BaseException as exc:
            run.fail(exc, **(on_failure() if on_failure else {}))
            raise
        run.finish("ok")
