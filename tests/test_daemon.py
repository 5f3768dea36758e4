"""The daemon: near-immediate triggers, a missed run once after restart, graceful SIGTERM, cron semantics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.date import DateTrigger

from lfmwatch.config import Config
from lfmwatch.run.daemon import LAST_FIRE_KEY, Daemon, cron_trigger, first_fire_after, next_fire_times
from lfmwatch.store.db import Store, open_store


def soon(seconds: float = 0.2) -> DateTrigger:
    return DateTrigger(run_date=datetime.now(UTC) + timedelta(seconds=seconds))


class Recorder:
    """Jobs that record their calls; `then_stop` stops the daemon after N calls."""

    def __init__(self, daemon_ref: list[Daemon], then_stop: int | None = None) -> None:
        self.calls: list[str] = []
        self.daemon_ref = daemon_ref
        self.then_stop = then_stop

    def job(self, name: str) -> Any:
        def run(store: Store, stop: threading.Event) -> None:
            self.calls.append(name)
            if self.then_stop is not None and len(self.calls) >= self.then_stop:
                threading.Thread(target=self.daemon_ref[0].stop).start()

        return run


def make(tmp_path: Path, jobs: dict[str, Any], triggers: dict[str, Any], config: Config | None = None) -> Daemon:
    db = tmp_path / "state.db"
    return Daemon(config or Config(), lambda: open_store(db), jobs, triggers=triggers)


def recorded(tmp_path: Path, trigger: Any, config: Config | None = None,
             then_stop: int | None = None) -> tuple[Daemon, Recorder]:
    """A daemon whose one job, "run" on `trigger`, records its calls in the returned Recorder."""
    ref: list[Daemon] = []
    rec = Recorder(ref, then_stop=then_stop)
    d = make(tmp_path, {"run": rec.job("run")}, {"run": trigger}, config)
    ref.append(d)
    return d, rec


@contextmanager
def serving(d: Daemon) -> Iterator[None]:
    """Serve `d` in a thread while the block runs, then stop it and wait for the thread."""
    t = threading.Thread(target=d.serve, kwargs={"install_signals": False})
    t.start()
    try:
        yield
    finally:
        d.stop()
        t.join(5)


def serve_in_thread(d: Daemon, timeout: float = 5.0) -> None:
    t = threading.Thread(target=d.serve, kwargs={"install_signals": False})
    t.start()
    t.join(timeout)
    if t.is_alive():
        d.stop()
        t.join(5)
        pytest.fail("daemon did not stop by itself")


def test_near_immediate_trigger_runs_job_and_records_fire_time(tmp_path: Path) -> None:
    trigger = soon()
    d, rec = recorded(tmp_path, trigger, then_stop=1)
    serve_in_thread(d)
    assert rec.calls == ["run"]
    assert d.executions == [("run", "ok")]
    with open_store(tmp_path / "state.db") as store:
        assert store.get_state(LAST_FIRE_KEY.format(job="run")) == trigger.run_date.isoformat()


def _daily_at(moment: datetime) -> str:
    return f"{moment.minute} {moment.hour} * * *"


def test_missed_run_happens_once_after_restart(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    an_hour_ago = now - timedelta(hours=1)
    cron = cron_trigger(_daily_at(an_hour_ago), "UTC")
    # The daemon last ran three days ago: three scheduled times were missed; coalesced into one run.
    with open_store(tmp_path / "state.db") as store:
        store.set_state(LAST_FIRE_KEY.format(job="run"), (an_hour_ago - timedelta(days=3)).isoformat())
    d, rec = recorded(tmp_path, cron)
    with serving(d):
        deadline = time.monotonic() + 15  # polls; returns as soon as the run happened
        while not rec.calls and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # room for a (wrong) second execution of the missed times
    assert rec.calls == ["run"]
    with open_store(tmp_path / "state.db") as store:
        last = datetime.fromisoformat(store.get_state(LAST_FIRE_KEY.format(job="run")))
    assert last.replace(second=0, microsecond=0) == an_hour_ago.replace(second=0, microsecond=0)

    # Restarted again: the missed time is recorded as done, so nothing runs.
    d2, rec2 = recorded(tmp_path, cron)
    with serving(d2):
        time.sleep(0.5)
    assert rec2.calls == []


def test_missed_run_older_than_grace_is_skipped(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    three_hours_ago = now - timedelta(hours=3)
    config = Config()
    config.schedule.misfire_grace_hours = 1.0
    with open_store(tmp_path / "state.db") as store:
        store.set_state(LAST_FIRE_KEY.format(job="run"), (three_hours_ago - timedelta(days=1)).isoformat())
    d, rec = recorded(tmp_path, cron_trigger(_daily_at(three_hours_ago), "UTC"), config)
    with serving(d):
        deadline = time.monotonic() + 15
        while not d.executions and time.monotonic() < deadline:
            time.sleep(0.05)
    assert rec.calls == []
    assert d.executions == [("run", "missed")]


def test_first_start_runs_nothing_missed(tmp_path: Path) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    d, rec = recorded(tmp_path, cron_trigger(_daily_at(an_hour_ago), "UTC"))
    with serving(d):
        time.sleep(0.4)
    assert rec.calls == []
    with open_store(tmp_path / "state.db") as store:
        assert store.get_state(LAST_FIRE_KEY.format(job="run")) is not None  # baseline recorded


def test_sigterm_lets_the_job_in_progress_finish(tmp_path: Path) -> None:
    """Signal to self from the job's worker thread; the handler machinery runs in the main thread."""
    assert threading.current_thread() is threading.main_thread()
    finished = threading.Event()
    saw_stop: list[bool] = []

    def job(store: Store, stop: threading.Event) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        stop.wait(15)  # returns as soon as the stop event is set; generous for a loaded machine
        saw_stop.append(stop.is_set())
        finished.set()

    before = signal.getsignal(signal.SIGTERM)
    d = make(tmp_path, {"run": job}, {"run": soon(0.1)})
    d.serve(install_signals=True)  # returns once the signal stopped it
    assert finished.is_set() and saw_stop == [True]
    assert d.executions == [("run", "ok")]  # it finished: recorded as fired, not run again on restart
    assert signal.getsignal(signal.SIGTERM) is before


def test_daemon_command_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "LFMWATCH_DB": str(tmp_path / "state.db"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lfmwatch", "daemon"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(60, proc.kill)  # never hang the suite if the daemon does not start
    watchdog.start()
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "next at" in line and sum("next at" in x for x in lines) >= 2:
                break
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert "daemon started" in text and "received SIGTERM" in text and "daemon stopped" in text


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("41 7 * * 1", "mon"),  # standard cron: 1 = Monday (APScheduler 3 alone would read Tuesday)
        ("41 7 * * 0", "sun"),
        ("41 7 * * 7", "sun"),
        ("41 7 * * mon", "mon"),
        ("41 7 * * 1-5", "mon,tue,wed,thu,fri"),
        ("41 7 * * 5-7", "sun,fri,sat"),
    ],
)
def test_cron_day_of_week_follows_crontab(cron: str, expected: str) -> None:
    trigger = cron_trigger(cron, "UTC")
    start = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday
    days = set()
    t = trigger.get_next_fire_time(None, start)
    for _ in range(14):
        days.add(t.strftime("%a").lower())
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    assert days == set(expected.split(","))


def test_first_fire_after_is_strictly_after() -> None:
    trigger = cron_trigger("17 6 * * *", "UTC")
    fired = datetime(2026, 3, 2, 6, 17, tzinfo=UTC)
    assert first_fire_after(trigger, fired, fired) == fired + timedelta(days=1)


def test_next_fire_times_from_config() -> None:
    times = next_fire_times(Config(), datetime(2026, 1, 1, 12, 0, tzinfo=UTC))  # Thursday noon
    assert times == {"run": "2026-01-02T06:17:00+00:00", "digest": "2026-01-05T07:41:00+00:00",
                     "retrain": "2026-01-04T05:23:00+00:00"}


def test_digest_job_sends_once_through_smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp_fake = pytest.importorskip("fakes.smtp_server")
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

    from lfmwatch.config import load_config
    from lfmwatch.run.daemon import make_daemon

    (tmp_path / "lfmwatch.toml").write_text(
        '[digest]\nrecipients = ["reader@example.org"]\nsend_empty = true\nsmtp_security = "none"\n'
    )
    with smtp_fake.SmtpFake(security="none") as smtp:
        monkeypatch.setenv("LFMWATCH_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("LFMWATCH_SMTP_PORT", str(smtp.port))
        for _ in range(2):  # the second daemon start fires the digest again: the week was sent, nothing goes out
            daemon = make_daemon(load_config())
            daemon.jobs = {"digest": daemon.jobs["digest"]}
            daemon.triggers = {"digest": soon()}
            daemon.build().add_listener(lambda _e, d=daemon: threading.Thread(target=d.stop).start(),
                                        EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
            serve_in_thread(daemon, timeout=30)
            assert daemon.executions == [("digest", "ok")]
        assert len(smtp.messages) == 1
    with open_store(tmp_path / "state.db") as store:
        runs = store.last_runs("digest")
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert runs[1]["counts"]["status"] == "sent" and runs[0]["counts"]["status"] == "already_sent"
