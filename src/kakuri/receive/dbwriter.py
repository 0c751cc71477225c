"""Group commit: the gateway's per-message writes of many messages share one transaction.

A commit costs a WAL fsync (synchronous=FULL) and, more on a busy gateway, the fixed work of a
transaction and of the ORM's flush; rows of many messages flushed together also go out as one
multi-row INSERT per table. So one thread applies every queued job in one session and commits once;
nobody waits for a timer: while a commit runs, the jobs that arrive queue up and form the next batch.

A job is `fn(session) -> result` that adds or changes rows and does not commit. Its caller's future
resolves only after the transaction holding it committed, so a step is acknowledged (and the caller
moves on, e.g. removes the spool entry) exactly as durably as with a commit of its own. If a batch fails,
it is rolled back and every job of it is run again alone, so one bad job fails only its own caller.
Jobs must therefore be repeatable, which the mailflow functions are (idempotent per queue id).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from kakuri.store.config import Stores
from kakuri.store.deferred import defer_inserts, flush_inserts

log = logging.getLogger(__name__)

MAX_BATCH = 128  # jobs per transaction; bounds the time one commit holds the database


class BatchWriter:
    def __init__(self, stores: Stores, *, max_batch: int = MAX_BATCH) -> None:
        self.stores, self.max_batch = stores, max_batch
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="db-writer")
        self._thread.start()

    async def run(self, fn: Callable[[Session], Any]) -> Any:
        """Apply `fn` in the next transaction; returns its result once that transaction has committed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((fn, loop, future))
        return await future

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)  # finish this batch, then stop
                    break
                batch.append(job)
            self._apply(batch)

    def _apply(self, batch: list) -> None:
        try:
            results = self._transaction([fn for fn, _, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], error=exc)
                return
            log.warning("batch of %d writes failed; applying them one by one", len(batch), exc_info=True)
            for job in batch:
                self._apply([job])
            return
        for job, result in zip(batch, results, strict=True):
            _settle(job, result=result)

    def _transaction(self, fns: list[Callable[[Session], Any]]) -> list:
        with self.stores.writing(), self.stores.sessions() as session:
            try:
                # No autoflush: a job's lookup by primary key must not flush the rows of the jobs
                # before it one by one; flushed together at commit they become multi-row INSERTs,
                # as do the rows the jobs insert with store.deferred.insert_rows.
                defer_inserts(session)
                with session.no_autoflush:
                    results = [fn(session) for fn in fns]
                flush_inserts(session)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        return results


def _settle(job, *, result: Any = None, error: BaseException | None = None) -> None:
    _, loop, future = job

    def resolve() -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(resolve)
    except RuntimeError:  # the loop is closed (shutdown): nobody waits any more
        pass
