"""Release and delete as the console performs them, behind one small seam `kakuri serve` replaces.

`StoreQuarantine` is the console on its own (or beside a gateway in another process): release goes
through `act.release.release_message`, like `kakuri quarantine release` (audited records first, then a
spool entry that the running gateway picks up and delivers within seconds). Inside `kakuri serve`, the
gateway passes an object whose release also wakes its delivery queue at once (`cli/serve.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from kakuri.store import quarantine as quarantine_store
from kakuri.store.config import Stores


class QuarantineActions(Protocol):
    async def release(self, *, queue_id: str, actor: str, reason: str) -> str: ...  # new state

    async def delete(self, *, queue_id: str, actor: str, reason: str) -> str: ...


class ActionError(ValueError):
    """The message cannot be released or deleted (unknown, wrong state); the text is safe to show."""


class StoreQuarantine:
    def __init__(self, stores: Stores, spool_dir: Path | None = None) -> None:
        self.stores = stores
        self.spool_dir = spool_dir  # the gateway's spool; None = records only (tests of the console alone)

    async def release(self, *, queue_id: str, actor: str, reason: str) -> str:
        return await run_in_threadpool(self._release, queue_id, actor, reason)

    async def delete(self, *, queue_id: str, actor: str, reason: str) -> str:
        return await run_in_threadpool(self._delete, queue_id, actor, reason)

    def _release(self, queue_id: str, actor: str, reason: str) -> str:
        try:
            if self.spool_dir is None:
                with self.stores.sessions() as db:
                    return str(quarantine_store.release(db, queue_id=queue_id, actor=actor, reason=reason).state)
            from kakuri.act.release import release_message
            from kakuri.receive.shared_spool import spool_at

            message = release_message(stores=self.stores, spool=spool_at(self.stores.engine, self.spool_dir),
                                      queue_id=queue_id, actor=actor, reason=reason)
            return str(message.state)
        except quarantine_store.QuarantineError as exc:
            raise ActionError(str(exc)) from exc

    def _delete(self, queue_id: str, actor: str, reason: str) -> str:
        with self.stores.sessions() as db:
            try:
                message = quarantine_store.delete(db, queue_id=queue_id, actor=actor, reason=reason,
                                                  blobs=self.stores.blobs)
            except quarantine_store.QuarantineError as exc:
                raise ActionError(str(exc)) from exc
            return str(message.state)
