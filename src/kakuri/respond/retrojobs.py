"""Retro-scan jobs: when what we know changes, the retained window is judged again, one job at a time, recorded.

Triggers (each a job with its reason in `rt_jobs`):
- indicators: `kakuri iocs import`, `iocs refresh` (a feed that changed), `iocs pull-misp`: the new
  indicators are matched against the features of retained mail (`full=False`: no rescan);
- rules: `kakuri rules reload` (YARA rules, policy, detector options) and a new release of kakuri both
  change `rule_version()`. The gateway compares it at start and after a reload with the version the
  window was last judged under (the last finished full job) and, when they differ, runs a full job in
  the background; `kakuri retro-scan --auto` does the same from cron;
- on demand: `kakuri retro-scan`.

One job at a time: a job holds `slot = 1` (unique) while it runs, on every node sharing the database;
another job waits for it (a waiting CLI says which one it waits for). A job whose heartbeat stopped for
`stale_minutes` (its process died) is marked abandoned and the slot taken over. `[retro] auto = false`
switches the automatic triggers off; `kakuri retro-scan` still runs.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ConfigDict
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from kakuri.respond.retroscan import RetroPool, RetroRun, retro_scan, rule_version
from kakuri.store.config import Stores
from kakuri.store.messages import as_utc, utcnow
from kakuri.store.retention import RetainedMessage, RetentionConfig, RetroJob

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0


class RetroConfig(BaseModel):
    """`[retro]`."""

    model_config = ConfigDict(extra="forbid")
    auto: bool = True  # judge the retained window again when indicators or rules change
    window_days: float | None = None  # how far back an automatic job looks; default [retention] days
    workers: int | None = None  # scan processes of a job (default one per core; 0 = in the job's process)
    background_workers: int = 1  # of the gateway's own jobs: live mail keeps the other cores
    stale_minutes: float = 10.0  # a running job silent this long is abandoned (its process died)

    @classmethod
    def from_settings(cls, settings) -> RetroConfig:
        return cls.model_validate(settings.section("retro"))

    def window(self, settings) -> datetime:
        days = self.window_days
        if days is None:
            days = RetentionConfig.model_validate(settings.section("retention")).days
        return utcnow() - timedelta(days=days)


class JobBusy(Exception):
    """Another retro-scan job holds the slot."""

    def __init__(self, job: RetroJob) -> None:
        super().__init__(f"retro-scan job {job.id} ({job.reason}) is running since "
                         f"{job.started_at:%Y-%m-%d %H:%M} UTC, {job.examined}/{job.total} examined")
        self.job = job


class JobStopped(Exception):
    """The job's owner is stopping (the gateway shuts down); the job is recorded as failed and runs again later."""


# -- the slot ------------------------------------------------------------------------------------
def running_job(session) -> RetroJob | None:
    return session.scalar(select(RetroJob).where(RetroJob.slot == 1))


def claim(stores: Stores, *, reason: str, full: bool, since: datetime, actor: str, version: str,
          stale_minutes: float = 10.0) -> RetroJob:
    """Take the slot and record the job; raises JobBusy when another one runs."""
    with stores.sessions() as session:
        current = running_job(session)
        if current is not None:
            if as_utc(current.heartbeat_at) > utcnow() - timedelta(minutes=stale_minutes):
                raise JobBusy(current)
            current.slot, current.state, current.finished_at = None, "abandoned", utcnow()
            current.error = f"no heartbeat since {current.heartbeat_at:%Y-%m-%d %H:%M:%S}; its process died"
            session.commit()
        job = RetroJob(slot=1, reason=reason[:200], state="running", rule_version=version, full=full, since=since,
                       actor=actor, started_at=utcnow(), heartbeat_at=utcnow(), error="")
        session.add(job)
        try:
            session.commit()
        except IntegrityError:  # another node took the slot between our look and our insert
            session.rollback()
            raise JobBusy(running_job(session)) from None
        session.refresh(job)
        session.expunge(job)
        return job


def _save(stores: Stores, job_id: int, run: RetroRun | None, **fields) -> None:
    if run is not None:
        fields.update(total=run.total, examined=run.examined, scanned=run.scanned, skipped=run.skipped,
                      findings=len(run.findings), incident_id=run.incident_id)
    with stores.writing(), stores.sessions() as session:
        session.execute(update(RetroJob).where(RetroJob.id == job_id).values(heartbeat_at=utcnow(), **fields))
        session.commit()


def get_job(stores: Stores, job_id: int) -> RetroJob | None:
    with stores.sessions() as session:
        job = session.get(RetroJob, job_id)
        if job is not None:
            session.expunge(job)
        return job


def recent_jobs(stores: Stores, limit: int = 10) -> list[RetroJob]:
    with stores.sessions() as session:
        jobs = list(session.scalars(select(RetroJob).order_by(RetroJob.id.desc()).limit(limit)))
        for job in jobs:
            session.expunge(job)
        return jobs


# -- is a full job due? ---------------------------------------------------------------------------
def judged_version(stores: Stores) -> str | None:
    """The rule version the retained window was last judged under in full (None: never)."""
    with stores.sessions() as session:
        return session.scalar(select(RetroJob.rule_version).where(RetroJob.full.is_(True), RetroJob.state == "done")
                              .order_by(RetroJob.id.desc()).limit(1))


def rescan_reason(settings, stores: Stores) -> str | None:
    """Why the retained window must be judged again under today's rules, or None."""
    version, last = rule_version(settings), judged_version(stores)
    if last == version:
        return None
    if last is None:
        with stores.sessions() as session:
            if not session.scalar(select(exists().where(RetainedMessage.queue_id.isnot(None)))):
                return None  # nothing retained yet: mail from now on is judged under this version at delivery
        return f"rule version {version[:12]}: retained mail never judged by a retro-scan"
    return f"rule version {last[:12]} -> {version[:12]}"


# -- running one ----------------------------------------------------------------------------------
def run_job(
    settings,
    stores: Stores,
    *,
    reason: str,
    actor: str,
    full: bool = True,
    since: datetime | None = None,
    incident_id: int | None = None,
    skip_judged: bool = True,
    workers: int | None = None,
    wait: bool = True,
    on_wait: Callable[[RetroJob], None] | None = None,
    progress: Callable[[RetroRun], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[RetroJob, RetroRun]:
    """Claim the slot (waiting for a running job when `wait`), run the retro-scan, record its outcome."""
    config = RetroConfig.from_settings(settings)
    since = since or config.window(settings)
    version = rule_version(settings)
    while True:
        try:
            job = claim(stores, reason=reason, full=full, since=since, actor=actor, version=version,
                        stale_minutes=config.stale_minutes)
            break
        except JobBusy as busy:
            if not wait:
                raise
            if on_wait is not None:
                on_wait(busy.job)
                on_wait = None  # said once
            if (stop.wait(1.0) if stop is not None else time.sleep(1.0)):
                raise JobStopped("stopped while waiting for the running retro-scan") from None
    last_beat = [0.0]

    def beat(run: RetroRun) -> None:
        if stop is not None and stop.is_set():
            raise JobStopped("the gateway is stopping")
        if progress is not None:
            progress(run)
        if time.monotonic() - last_beat[0] >= HEARTBEAT_SECONDS:
            last_beat[0] = time.monotonic()
            _save(stores, job.id, run)

    workers = config.workers if workers is None else workers
    pool = RetroPool(Path(settings.home), workers=workers) if workers is not None else None
    try:
        run = retro_scan(settings, stores, since=since, actor=actor, incident_id=incident_id, skip_judged=skip_judged,
                         pool=pool, scan=full, progress=beat)
    except BaseException as exc:
        _save(stores, job.id, None, slot=None, state="failed", finished_at=utcnow(),
              error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        if pool is not None:
            pool.close()
    _save(stores, job.id, run, slot=None, state="done", finished_at=utcnow())
    run.job_id = job.id
    return get_job(stores, job.id), run


class BackgroundRetro:
    """The gateway's retro-scan thread: at start and after a rules reload, judge the window again when the
    rule version differs from the one it was last judged under. At most one thread; the job itself is
    one at a time across processes (`claim`)."""

    def __init__(self, settings, stores: Stores) -> None:
        self.settings, self.stores = settings, stores
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._again = False
        self._lock = threading.Lock()

    def check(self, settings=None, *, why: str = "gateway start") -> None:
        """Start a background job if one is due (or after the current one, if it is running)."""
        if settings is not None:
            self.settings = settings
        if not RetroConfig.from_settings(self.settings).auto:
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._again = True  # the running thread looks again when it ends
                return
            self._thread = threading.Thread(target=self._loop, args=(why,), name="retro-scan", daemon=True)
            self._thread.start()

    def _loop(self, why: str) -> None:
        told = None
        while not self._stop.is_set():
            try:
                reason = rescan_reason(self.settings, self.stores)
                if reason:
                    workers = RetroConfig.from_settings(self.settings).background_workers
                    job, run = run_job(self.settings, self.stores, reason=f"{why}: {reason}", actor="kakuri-gateway",
                                       stop=self._stop, workers=workers, wait=False)
                    log.warning("retro-scan job %s (%s): %d examined, %d scanned, %d skipped, %d finding(s)%s",
                                job.id, job.reason, run.examined, run.scanned, run.skipped, len(run.findings),
                                f", incident {run.incident_id}" if run.findings else "")
            except JobBusy as busy:
                # Another job runs (a command, another node or acceptor process): look again when it may have
                # ended, since it may have judged the window under these very rules.
                if told != busy.job.id:
                    told = busy.job.id
                    log.info("retro-scan waits for job %s (%s)", busy.job.id, busy.job.reason)
                if self._stop.wait(5.0):
                    return
                continue
            except JobStopped:
                return
            except Exception:  # the gateway goes on; the job is recorded as failed and runs at the next check
                log.exception("background retro-scan failed")
            with self._lock:
                if not self._again:
                    self._thread = None
                    return
                self._again, why = False, "rules reload"

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
