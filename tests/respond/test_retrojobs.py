"""Retro-scan jobs: one at a time (a unique slot), a dead job's slot taken over, the outcome recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from kakuri.respond.retrojobs import JobBusy, claim, recent_jobs, rescan_reason, run_job
from kakuri.store.config import open_stores
from kakuri.store.retention import Retention, RetentionConfig, RetroJob
from tests.builders import make_message
from tests.respond.test_retroscan import retain

SINCE = datetime.now(UTC) - timedelta(days=1)


def check_one_at_a_time(settings, stores) -> None:
    """Shared by the SQLite and PostgreSQL tests."""
    first = claim(stores, reason="first", full=True, since=SINCE, actor="t", version="v1")
    with pytest.raises(JobBusy, match="first"):
        claim(stores, reason="second", full=True, since=SINCE, actor="t", version="v1")
    with pytest.raises(JobBusy):  # also when waiting is not wanted through run_job
        run_job(settings, stores, reason="third", actor="t", since=SINCE, wait=False, workers=0)
    with stores.sessions() as session:  # its process died: no heartbeat for 11 minutes
        session.execute(update(RetroJob).where(RetroJob.id == first.id)
                        .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=11)))
        session.commit()
    taken = claim(stores, reason="after the dead one", full=True, since=SINCE, actor="t", version="v1")
    states = {j.id: (j.state, j.slot) for j in recent_jobs(stores)}
    assert states[first.id] == ("abandoned", None) and states[taken.id] == ("running", 1)


def test_one_job_at_a_time_and_a_dead_job_is_taken_over(settings):
    stores = open_stores(settings)
    try:
        check_one_at_a_time(settings, stores)
    finally:
        stores.close()


def test_a_full_job_is_due_when_the_rule_version_differs_from_the_last_judgement(settings):
    stores = open_stores(settings)
    try:
        assert rescan_reason(settings, stores) is None  # nothing retained
        retain(stores, Retention(RetentionConfig(), settings.home), make_message(subject="x"), queue_id="q1")
        assert "never judged" in rescan_reason(settings, stores)
        job, run = run_job(settings, stores, reason="test", actor="t", since=SINCE, workers=0)
        assert (job.state, job.slot, job.total, job.scanned) == ("done", None, 1, 1) and run.scanned == 1
        assert rescan_reason(settings, stores) is None
        (settings.home / "policy.toml").write_text("[symbols.URL_SHORTENER]\nscore = 2.5\n")  # a policy change
        assert rescan_reason(settings, stores).startswith(f"rule version {job.rule_version[:12]} -> ")
        indicators_only, _ = run_job(settings, stores, reason="iocs", actor="t", since=SINCE, full=False, workers=0)
        assert indicators_only.full is False and rescan_reason(settings, stores) is not None  # rules not applied yet
    finally:
        stores.close()


def test_a_second_job_waits_for_the_running_one_and_says_which(settings):
    import threading

    stores = open_stores(settings)
    try:
        running = claim(stores, reason="rules reload", full=True, since=SINCE, actor="t", version="v0")
        waited = []

        def finish_later():
            with stores.sessions() as session:
                session.execute(update(RetroJob).where(RetroJob.id == running.id).values(slot=None, state="done"))
                session.commit()

        timer = threading.Timer(1.5, finish_later)
        timer.start()
        job, _ = run_job(settings, stores, reason="iocs import", actor="t", full=False, since=SINCE, workers=0,
                         on_wait=waited.append)
        timer.join()
        assert [w.id for w in waited] == [running.id]  # said once, naming the job it waited for
        assert (job.reason, job.state, job.slot) == ("iocs import", "done", None)
    finally:
        stores.close()


def test_the_gateway_thread_does_not_repeat_a_job_another_process_ran_meanwhile(settings):
    import time

    from kakuri.respond.retrojobs import BackgroundRetro
    from kakuri.respond.retroscan import rule_version

    stores = open_stores(settings)
    settings.__pydantic_extra__["retro"] = {"background_workers": 0}
    background = BackgroundRetro(settings, stores)
    try:
        retain(stores, Retention(RetentionConfig(), settings.home), make_message(subject="x"), queue_id="q1")
        other = claim(stores, reason="another node's job", full=True, since=SINCE, actor="t", version="v0")
        background.check(why="gateway start")
        time.sleep(1.0)
        # The other process finishes a full job under today's rules: nothing is left for the gateway to do.
        with stores.sessions() as session:
            session.execute(update(RetroJob).where(RetroJob.id == other.id)
                            .values(slot=None, state="done", rule_version=rule_version(settings)))
            session.commit()
        deadline = time.monotonic() + 20
        while background._thread is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert background._thread is None
        assert [j.reason for j in recent_jobs(stores)] == ["another node's job"]  # no second job
    finally:
        background.stop()
        stores.close()
