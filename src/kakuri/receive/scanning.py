"""Scanning for the gateway: a pool of workers, each with its own scanner and thread ledger.

`Scanner.scan` is synchronous and CPU-bound, so the event loop hands it to a pool. The process pool
(default) gives each worker a scanner built once and its own `KnowledgeStore`; a worker that scans a
message which will be delivered records it in the ledger itself (the parsed message never crosses
the process boundary, which would cost more than the scan). Workers only learn from their own
messages and, every few seconds, from what the others stored (`KnowledgeStore.refresh`), so a fresh
reply may briefly look unknown, which detectors treat as "unknown", never as "suspicious". The thread pool (one shared scanner) is for tests and tiny setups.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from kakuri.model import Envelope, ParsedMessage
from kakuri.store.knowledge import harvest_passwords

LEARN_ACTIONS = ("deliver", "tag")  # the ledger must never learn from mail we keep away from people
LEARN_BATCH = 32  # messages per ledger transaction
LEARN_SECONDS = 1.0  # longest a delivered message waits before the ledger knows it
REFRESH_SECONDS = 5.0  # how often a worker reads what the other workers and nodes recorded


@dataclass(frozen=True)
class ScanOutcome:
    verdict: dict  # Verdict.as_dict()
    headers: dict  # message_id, from, to, subject, date: what the records show without the blob

    def record_fields(
        self, *, queue_id: str, envelope: Envelope, rcpt_directions: dict[str, str], raw: bytes,
        received_at: datetime, origin: str, blob: str | None,
    ) -> dict:
        """The keyword arguments of `mailflow.record_accepted`/`new_message` for this scanned message."""
        return dict(
            queue_id=queue_id,
            mail_from=envelope.mail_from,
            rcpt_directions=rcpt_directions,
            direction=envelope.direction.value,
            received_at=received_at,
            size=len(raw),
            verdict=self.verdict,
            headers=self.headers,
            client_ip=envelope.client_ip or "",
            helo=envelope.helo or "",
            auth_user=envelope.auth_user or "",
            origin=origin,
            blob_sha256=blob,
        )


class _Worker:
    """What one worker process (or the whole thread pool) holds."""

    def __init__(self, settings) -> None:
        from kakuri.respond.emergency import EmergencySwitch
        from kakuri.store.config import open_stores
        from kakuri.store.knowledge import load_knowledge
        from kakuri.wiring import build_scanner

        self.stores = open_stores(settings, upgrade=False)
        self.knowledge = load_knowledge(settings, engine=self.stores.engine)
        self.scanner = build_scanner(settings, knowledge=self.knowledge)
        self.emergency = EmergencySwitch(self.stores.sessions)  # active modes, re-read every few seconds
        from kakuri.store.retention import RetentionConfig

        self.retention = RetentionConfig.model_validate(settings.section("retention"))
        # Scans read the ledger's in-memory index and learning writes it: never both at once.
        self.lock = threading.Lock()
        self._to_learn: list = []
        self._learned_at = time.monotonic()
        self._learn_now = threading.Event()  # a full batch: the ledger thread writes it at once
        threading.Thread(target=self._learn_when_idle, daemon=True, name="ledger").start()

    def scan(self, raw: bytes, envelope: Envelope) -> ScanOutcome:
        with self.lock:
            result = self.scanner.scan(raw, envelope, overrides=self.emergency.overrides())
            verdict = result.verdict.as_dict()
            if verdict["action"] in LEARN_ACTIONS:
                self._to_learn.append((result.message, envelope))
                if len(self._to_learn) >= LEARN_BATCH:
                    self._learn_now.set()  # never a database commit inside a scan
        headers = header_summary(result.message)
        retention = self.retention
        if verdict["action"] in LEARN_ACTIONS and retention.enabled and envelope.direction.value in retention.directions:
            from kakuri.respond.retroscan import features_of

            # what indicators can name, kept beside the retained copy: the retro-scan then never parses it
            headers["retro_items"] = features_of(result.message, envelope)
        return ScanOutcome(verdict=verdict, headers=headers)

    def _index_batch(self) -> list:
        """Under the lock: the waiting messages enter the in-memory ledger; returns their rows to store."""
        batch, self._to_learn = self._to_learn, []
        self._learned_at = time.monotonic()
        try:
            return self.knowledge.index_many(batch) if batch else []
        except Exception:  # the ledger is learning data: a failed write must not fail the message
            logging.getLogger(__name__).exception("thread ledger: %d messages not recorded", len(batch))
            return []

    def _store(self, rows: list) -> None:
        # Outside the lock: with several gateway processes on one SQLite file this commit may wait for the
        # write lock, and scans must not wait with it. One transaction per batch: a commit (fsync) per
        # message would cost more than the scan itself.
        try:
            self.knowledge.store_rows(rows)
        except Exception:
            logging.getLogger(__name__).exception("thread ledger: %d messages not stored", len(rows))

    def _learn_when_idle(self) -> None:
        refreshed = time.monotonic()
        while True:
            self._learn_now.wait(LEARN_SECONDS)
            self._learn_now.clear()
            rows = []
            with self.lock:
                if len(self._to_learn) >= LEARN_BATCH or time.monotonic() - self._learned_at >= LEARN_SECONDS:
                    rows = self._index_batch()
                if time.monotonic() - refreshed >= REFRESH_SECONDS:
                    refreshed = time.monotonic()
                    self._refresh()
            if rows:
                self._store(rows)

    def _refresh(self) -> None:
        # Each worker learns only what it scanned itself; the others' mail (and other nodes') comes
        # from the database, so a fresh reply handled by another worker is not a stranger here.
        try:
            self.knowledge.refresh()
        except Exception:
            logging.getLogger(__name__).exception("thread ledger: refresh failed; will retry")


def header_summary(message: ParsedMessage) -> dict:
    return {
        "message_id": message.message_id.strip().strip("<>"),
        "from": (message.header("From") or "")[:500],
        "to": (message.header("To") or "")[:1000],
        "subject": (message.subject or "")[:1000],
        "date": (message.header("Date") or "")[:200],
        # Whether the mail states archive passwords: the PPAP watcher then looks for archives held for
        # them, without parsing every passing message again in the gateway's main process.
        "passwords_stated": bool(harvest_passwords(message)),
    }


_worker: _Worker | None = None


def _init_process(settings) -> None:
    global _worker
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _worker = _Worker(settings)


def _exit_with_parent(parent: int) -> None:
    # After `kill -9` of the gateway nobody tells its workers; they must not linger holding the DB.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _ready() -> int:
    return os.getpid()


def _scan_in_process(raw: bytes, envelope: Envelope) -> ScanOutcome:
    return _worker.scan(raw, envelope)


class ScanPool:
    def __init__(self, settings, *, workers: int, mode: str = "process") -> None:
        self._settings, self._workers, self._mode = settings, workers, mode
        self._start()

    def _start(self) -> None:
        settings, workers = self._settings, self._workers
        self._executor: Executor
        if self._mode == "process":
            import multiprocessing

            # spawn: never fork the event loop's threads and sockets; workers stay direct children,
            # so they can notice the gateway's death.
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(
                workers, mp_context=context, initializer=_init_process, initargs=(settings,)
            )
            self._call = _scan_in_process
        else:
            worker = _Worker(settings)
            self._executor = ThreadPoolExecutor(workers, thread_name_prefix="scan")
            self._call = worker.scan

    async def warm_up(self) -> None:
        """Start every worker now (they build their scanner in seconds) rather than on the first message."""
        if self._mode == "process":
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(self._executor, _ready) for _ in range(self._workers)))

    async def scan(self, raw: bytes, envelope: Envelope) -> ScanOutcome:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, raw, envelope)

    def reload(self, settings) -> None:
        """New scanning rules (`kakuri rules reload`): a fresh pool from now on; scans already submitted
        finish in the old one, which then exits."""
        old = self._executor
        self._settings = settings
        self._start()
        old.shutdown(wait=False)

    def restart(self) -> None:
        """After a worker died (BrokenProcessPool): a fresh pool; the old one cannot take work any more."""
        self.close()
        self._start()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
