"""Scanning for the gateway: a pool of workers, each with its own scanner and thread ledger.

`Scanner.scan` is synchronous and CPU-bound, so the event loop hands it to a pool. The process pool
(default) gives each worker a scanner built once and its own `KnowledgeStore`; a worker that scans a
message which will be delivered records it in the ledger itself (the parsed message never crosses
the process boundary, which would cost more than the scan). Workers only learn from their own
messages until they restart, so a fresh reply may briefly look unknown, which detectors treat as
"unknown", never as "suspicious". The thread pool (one shared scanner) is for tests and tiny setups.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

from kakuri.model import Envelope, ParsedMessage

LEARN_ACTIONS = ("deliver", "tag")  # the ledger must never learn from mail we keep away from people


@dataclass(frozen=True)
class ScanOutcome:
    verdict: dict  # Verdict.as_dict()
    headers: dict  # message_id, from, to, subject, date: what the records show without the blob


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
        self.learn_lock = threading.Lock()

    def scan(self, raw: bytes, envelope: Envelope) -> ScanOutcome:
        result = self.scanner.scan(raw, envelope, overrides=self.emergency.overrides())
        verdict = result.verdict.as_dict()
        if verdict["action"] in LEARN_ACTIONS:
            with self.learn_lock:
                self.knowledge.record(result.message, envelope)
        return ScanOutcome(verdict=verdict, headers=header_summary(result.message))


def header_summary(message: ParsedMessage) -> dict:
    return {
        "message_id": message.message_id.strip().strip("<>"),
        "from": (message.header("From") or "")[:500],
        "to": (message.header("To") or "")[:1000],
        "subject": (message.subject or "")[:1000],
        "date": (message.header("Date") or "")[:200],
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

    def restart(self) -> None:
        """After a worker died (BrokenProcessPool): a fresh pool; the old one cannot take work any more."""
        self.close()
        self._start()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
