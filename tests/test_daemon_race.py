"""The daemon stopped by its own job while the scheduler is still removing that spent one-off job."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from test_daemon import recorded, serve_in_thread, soon


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_stop_racing_the_removal_of_a_one_off_job_is_a_clean_stop(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded machine the job can finish and stop the daemon before the scheduler removes the spent job:
    forced here, that ordering must still be a clean stop with the execution recorded (it was a JobLookupError)."""
    from apscheduler.schedulers.base import STATE_STOPPED

    d, rec = recorded(tmp_path, soon(), then_stop=1)
    scheduler = d.build()
    remove_job = scheduler.remove_job

    def late_remove(job_id: str, jobstore: str | None = None) -> None:
        assert d.stop_event.wait(5)  # the job ran and asked to stop
        deadline = time.monotonic() + 5
        while scheduler.state != STATE_STOPPED and time.monotonic() < deadline:
            time.sleep(0.01)
        remove_job(job_id, jobstore)

    monkeypatch.setattr(scheduler, "remove_job", late_remove)
    serve_in_thread(d)
    assert rec.calls == ["run"]
    assert d.executions == [("run", "ok")]
