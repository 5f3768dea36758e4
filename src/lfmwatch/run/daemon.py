"""`lfmwatch daemon`: an APScheduler 3.x BlockingScheduler that runs the daily pipeline and the weekly digest.

Missed runs. APScheduler's persistent job stores need SQLAlchemy (or Redis/Mongo...), a heavy dependency for
two jobs. Instead the daemon records, per job, the scheduled time of the last execution in the store's `state`
table (`daemon.last_fire.<job>`). On start it hands APScheduler a `next_run_time` equal to the first fire time
after that record; when that is in the past, APScheduler itself computes the missed times, `coalesce=True`
collapses them into one execution, and `misfire_grace_time` drops it when the latest missed time is older than
`schedule.misfire_grace_hours`. So a run missed while the process was down happens once on restart, exactly as a
persistent job store would do it, and the state lives where the rest of the bot's memory lives.

Signals. SIGTERM/SIGINT must not run scheduler code inside a Python signal handler (it could re-enter locks
that the interrupted main thread holds). The handler is a no-op; `signal.set_wakeup_fd` writes the signal
number to a socket that a watcher thread reads, and that thread stops the scheduler: the stop event tells a run
in progress to end at the next stage boundary (recorded as "interrupted"), and shutdown waits for it. A second
signal exits at once; the unfinished run is then marked interrupted by the next run.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.base import BaseTrigger

    from lfmwatch.config import Config
    from lfmwatch.store.db import Store

log = logging.getLogger("lfmwatch.run.daemon")

LAST_FIRE_KEY = "daemon.last_fire.{job}"
JOB_IDS = ("run", "digest", "retrain")
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # index = standard cron day number


# --- cron ------------------------------------------------------------------------------------------


def _cron_dow_to_names(field_: str) -> str:
    """Standard cron day-of-week (0/7 = Sunday) as names: APScheduler 3.x numbers days from Monday = 0."""
    if field_ in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field_.lower().split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if rng in ("*", "?"):
            lo, hi = 0, 6
        else:
            a, _, b = rng.partition("-")
            lo = _dow_number(a)
            hi = _dow_number(b) if b else (6 if step_s else lo)
            if b and hi == 0 and lo > 0:  # "5-7" / "fri-sun": Sunday closes the range
                hi = 7
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DOW_NAMES[d] for d in sorted(days))


def _dow_number(token: str) -> int:
    if token.isdigit():
        n = int(token)
        if not 0 <= n <= 7:
            raise ValueError(f"day of week {token} is out of range 0-7")
        return n
    if token[:3] in _DOW_NAMES:
        return _DOW_NAMES.index(token[:3])
    raise ValueError(f"unknown day of week {token!r}")


def cron_trigger(expr: str, timezone: str) -> BaseTrigger:
    """A CronTrigger for a standard 5-field crontab line (day-of-week numbers as in cron, Sunday = 0)."""
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, dow = expr.split()
    return CronTrigger.from_crontab(
        " ".join((minute, hour, day, month, _cron_dow_to_names(dow))), timezone=timezone
    )


def schedule_triggers(config: Config) -> dict[str, BaseTrigger]:
    """The daemon's triggers from `config.schedule`: {"run": ..., "digest": ..., "retrain": ...}."""
    s = config.schedule
    return {"run": cron_trigger(s.run_cron, s.timezone), "digest": cron_trigger(s.digest_cron, s.timezone),
            "retrain": cron_trigger(s.retrain_cron, s.timezone)}


def next_fire_times(config: Config, now: datetime | None = None) -> dict[str, str | None]:
    """Next scheduled time of each daemon job (ISO, in the configured time zone)."""
    from zoneinfo import ZoneInfo

    now = now or datetime.now(ZoneInfo(config.schedule.timezone))
    out: dict[str, str | None] = {}
    for job, trigger in schedule_triggers(config).items():
        t = trigger.get_next_fire_time(None, now)
        out[job] = t.isoformat() if t else None
    return out


def first_fire_after(trigger: BaseTrigger, after: datetime, now: datetime) -> datetime | None:
    """The first fire time strictly after `after` (None when the trigger never fires again)."""
    t = trigger.get_next_fire_time(None, after)
    # get_next_fire_time(None, x) may return x itself: step past it so an executed time never repeats.
    while t is not None and t <= after:
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    return t


# --- the daemon ------------------------------------------------------------------------------------

JobFunc = Callable[["Store", threading.Event], Any]


@dataclass
class Daemon:
    """The scheduler process: jobs are functions of (store, stop_event); the store is opened per execution."""

    config: Config
    open_store: Callable[[], Store]
    jobs: dict[str, JobFunc]
    triggers: dict[str, BaseTrigger] | None = None  # default: from config.schedule (tests pass near-immediate ones)
    stop_event: threading.Event = field(default_factory=threading.Event)
    scheduler: BlockingScheduler | None = None
    executions: list[tuple[str, str]] = field(default_factory=list)  # (job, outcome), for logs and tests
    _shut_down: threading.Event = field(default_factory=threading.Event)  # set when stop() has shut the scheduler
    _signals: int = 0

    def build(self) -> BlockingScheduler:
        """Create the scheduler with one job per entry of `jobs`, resuming missed runs from the store."""
        from zoneinfo import ZoneInfo

        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        tz = ZoneInfo(self.config.schedule.timezone)
        grace = max(1, int(self.config.schedule.misfire_grace_hours * 3600))
        # One worker: the run and the digest never write the store at the same time.
        scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
            timezone=tz,
        )
        triggers = self.triggers if self.triggers is not None else schedule_triggers(self.config)
        now = datetime.now(tz)
        with self.open_store() as store:
            for job_id, func in self.jobs.items():
                trigger = triggers[job_id]
                next_run = self._resume_time(store, job_id, trigger, now)
                kwargs: dict[str, Any] = {"next_run_time": next_run} if next_run is not None else {}
                scheduler.add_job(self._execute, trigger, args=[job_id, func], id=job_id, name=job_id, **kwargs)
        scheduler.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self.scheduler = scheduler
        return scheduler

    def _resume_time(self, store: Store, job_id: str, trigger: BaseTrigger, now: datetime) -> datetime | None:
        key = LAST_FIRE_KEY.format(job=job_id)
        last = store.get_state(key)
        if last is None:
            # First start ever: nothing was missed; from now on every execution is recorded.
            store.set_state(key, now.isoformat())
            return None
        t = first_fire_after(trigger, datetime.fromisoformat(last), now)
        if t is not None and t <= now:
            log.info("%s: scheduled for %s while the daemon was down: running it once now (if within %sh)",
                     job_id, t.isoformat(), self.config.schedule.misfire_grace_hours)
            return t
        return None

    def _execute(self, job_id: str, func: JobFunc) -> bool:
        """Run one job; True when it completed (an interrupted run is not recorded as fired)."""
        if self.stop_event.is_set():
            return False
        log.info("%s: starting", job_id)
        with self.open_store() as store:
            result = func(store, self.stop_event)
        completed = getattr(result, "status", "ok") != "interrupted"
        log.info("%s: %s", job_id, getattr(result, "line", lambda: "done")() if result is not None else "done")
        return completed

    def _on_event(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED

        if event.code == EVENT_JOB_MISSED:
            log.warning("%s: missed its %s run by more than the grace time: skipped", event.job_id,
                        event.scheduled_run_time.isoformat())
            self.executions.append((event.job_id, "missed"))
            return
        if event.code == EVENT_JOB_ERROR:
            # The run itself is recorded (failed) in the store; the daemon keeps its schedule.
            log.error("%s: failed: %s", event.job_id, event.exception)
            outcome = "error"
        else:
            outcome = "ok" if event.retval else "interrupted"
        self.executions.append((event.job_id, outcome))
        if outcome == "interrupted":
            return  # not recorded: it runs again on restart
        try:
            with self.open_store() as store:
                store.set_state(LAST_FIRE_KEY.format(job=event.job_id), event.scheduled_run_time.isoformat())
        except Exception as exc:  # never let bookkeeping kill the scheduler thread
            log.error("%s: cannot record the execution time: %s", event.job_id, exc)

    def log_schedule(self) -> None:
        """Log the next time of each job."""
        assert self.scheduler is not None
        for job in self.scheduler.get_jobs():
            when = job.next_run_time.isoformat() if job.next_run_time else "never"
            log.info("%s: next at %s", job.id, when)

    def serve(self, *, install_signals: bool = True) -> None:
        """Block until stopped (stop(), SIGTERM or SIGINT); a job in progress finishes or ends interrupted."""
        scheduler = self.scheduler or self.build()
        restore = self._install_signals() if install_signals else None
        try:
            scheduler.add_listener(lambda _e: self._started(), _started_mask())
            log.info("daemon started (pid %d): run %r, digest %r, retrain %r, %s", os.getpid(),
                     self.config.schedule.run_cron, self.config.schedule.digest_cron, self.config.schedule.retrain_cron,
                     self.config.schedule.timezone)
            try:
                scheduler.start()
            except Exception as exc:
                from apscheduler.jobstores.base import JobLookupError

                if not (isinstance(exc, JobLookupError) and self.stop_event.is_set()):
                    raise
                # stop() shut the scheduler down while its loop was removing a one-off job that had just run:
                # harmless; wait until the shutdown (and that job's bookkeeping) is complete.
                self._shut_down.wait(timeout=60)
        finally:
            if restore is not None:
                restore()
        log.info("daemon stopped")

    def _started(self) -> None:
        self.log_schedule()
        if self.stop_event.is_set():  # a signal arrived before the scheduler was running: stop now
            threading.Thread(target=self.stop, name="lfmwatch-stop").start()

    def stop(self, reason: str = "stop requested") -> None:
        """Ask a run in progress to end at its next stage boundary, wait for it, stop the scheduler."""
        if not self.stop_event.is_set():
            log.info("%s: stopping after the job in progress", reason)
        self.stop_event.set()
        scheduler = self.scheduler
        if scheduler is not None and scheduler.running:
            try:
                scheduler.shutdown(wait=True)
            except Exception as exc:  # SchedulerNotRunningError when two stops race
                log.debug("shutdown: %s", exc)
        self._shut_down.set()

    # signals ------------------------------------------------------------------------------------
    def _install_signals(self) -> Callable[[], None]:
        reader, writer = socket.socketpair()
        reader.setblocking(True)
        writer.setblocking(False)
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        previous = {s: signal.signal(s, _ignore) for s in (signal.SIGTERM, signal.SIGINT)}
        watcher = threading.Thread(target=self._watch, args=(reader,), name="lfmwatch-signals", daemon=True)
        watcher.start()

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)
            signal.set_wakeup_fd(previous_fd)
            writer.close()  # ends the watcher's recv
            watcher.join(timeout=5)
            reader.close()

        return restore

    def _watch(self, reader: socket.socket) -> None:
        while True:
            try:
                data = reader.recv(16)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                self._signals += 1
                try:
                    name = signal.Signals(signum).name
                except ValueError:
                    name = f"signal {signum}"
                if self._signals > 1:
                    log.warning("%s again: exiting now; the unfinished run is marked interrupted next time", name)
                    sys.stdout.flush()
                    os._exit(130)
                threading.Thread(target=self.stop, args=(f"received {name}",), name="lfmwatch-stop").start()


def _ignore(signum: int, frame: Any) -> None:
    """Python-level handler: the real work happens in the watcher thread (see the module docstring)."""


def _started_mask() -> int:
    from apscheduler.events import EVENT_SCHEDULER_STARTED

    return EVENT_SCHEDULER_STARTED


def configure_logging(verbose: bool = False) -> None:
    """Daemon logs go to stdout (journald, docker logs), one line each."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.INFO if verbose else logging.WARNING)


def make_daemon(config: Config, adapters_factory: Callable[[], Any] | None = None) -> Daemon:
    """The production daemon: the daily run and the weekly digest on `config.schedule`."""
    from lfmwatch.store.db import open_store

    def run_job(store: Store, stop: threading.Event) -> Any:
        from lfmwatch.run.pipeline import run_daily

        adapters = adapters_factory() if adapters_factory is not None else None
        report = run_daily(store, config, adapters=adapters, stop=stop)
        if report.status == "failed":
            log.error("run: %s%s", report.line(), f" (hint: {report.hint})" if report.hint else "")
        return report

    def digest_job(store: Store, stop: threading.Event) -> Any:
        from lfmwatch.run.weekly import run_digest

        return run_digest(store, config)

    def retrain_job(store: Store, stop: threading.Event) -> Any:
        from lfmwatch.run.retrain import run_retrain

        # The gated retrain: a refused model leaves the current one in place (the reason is in `status`).
        adapters = adapters_factory() if adapters_factory is not None else None
        session = adapters.github() if adapters is not None and adapters.github is not None else None
        outcome = run_retrain(store, config, session=session)
        log.info("retrain: %s", outcome.line())
        return outcome

    return Daemon(config, lambda: open_store(config.db_path),
                  {"run": run_job, "digest": digest_job, "retrain": retrain_job})
