"""Release and delete as the console performs them, behind one small seam the gateway can replace.

`StoreQuarantine` changes the records through `kakuri.store.quarantine` (audited there with actor and
reason); a released message's recipients become pending. Given a transport (the gateway's next-hop
relay) it then delivers at once and records the attempt with `store.mailflow.record_attempt`, so what
is not delivered now stays pending or deferred for the gateway's delivery loop (the records are
written before the send, so a crash in between loses nothing).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from kakuri.store import mailflow
from kakuri.store import quarantine as quarantine_store
from kakuri.store.config import Stores
from kakuri.store.messages import RecipientStatus, utcnow

RETRY_AFTER = timedelta(minutes=5)


class QuarantineActions(Protocol):
    async def release(self, *, queue_id: str, actor: str, reason: str) -> str: ...  # new state

    async def delete(self, *, queue_id: str, actor: str, reason: str) -> str: ...


class ActionError(ValueError):
    """The message cannot be released or deleted (unknown, wrong state); the text is safe to show."""


class StoreQuarantine:
    def __init__(self, stores: Stores, transport=None) -> None:
        self.stores = stores
        self.transport = transport  # kakuri.receive.relay.Transport, or None: the delivery loop sends

    async def release(self, *, queue_id: str, actor: str, reason: str) -> str:
        state = await run_in_threadpool(self._apply, quarantine_store.release, queue_id, actor, reason, False)
        if self.transport is None:
            return state
        return await self._deliver(queue_id)

    async def _deliver(self, queue_id: str) -> str:
        mail_from, rcpts, raw = await run_in_threadpool(self._pending, queue_id)
        replies = await self.transport.deliver(mail_from=mail_from, rcpt_tos=rcpts, data=raw) if rcpts else {}
        results = {}
        for rcpt, reply in replies.items():
            if reply.is_success:
                results[rcpt] = (RecipientStatus.DELIVERED, str(reply), None)
            elif reply.is_permanent:
                results[rcpt] = (RecipientStatus.BOUNCED, str(reply), None)
            else:
                results[rcpt] = (RecipientStatus.DEFERRED, str(reply), utcnow() + RETRY_AFTER)
        return await run_in_threadpool(self._record, queue_id, results)

    def _pending(self, queue_id: str) -> tuple[str, list[str], bytes]:
        with self.stores.sessions() as db:
            message = quarantine_store.get_message(db, queue_id=queue_id)
            raw = quarantine_store.raw_message(self.stores.blobs, message)
            return message.mail_from, [r.address for r in mailflow.waiting_recipients(message)], raw

    def _record(self, queue_id: str, results: dict) -> str:
        with self.stores.sessions() as db:
            return str(mailflow.record_attempt(db, queue_id=queue_id, results=results).state)

    async def delete(self, *, queue_id: str, actor: str, reason: str) -> str:
        return await run_in_threadpool(self._apply, quarantine_store.delete, queue_id, actor, reason, True)

    def _apply(self, operation, queue_id: str, actor: str, reason: str, with_blobs: bool) -> str:
        extra = {"blobs": self.stores.blobs} if with_blobs else {}
        with self.stores.sessions() as db:
            try:
                return str(operation(db, queue_id=queue_id, actor=actor, reason=reason, **extra).state)
            except quarantine_store.QuarantineError as exc:
                raise ActionError(str(exc)) from exc


class GatewayQuarantine(StoreQuarantine):
    """Release inside `kakuri serve`: the message goes back through the gateway's own spool and delivery
    queue, so it is tagged, retried and bounced like any other mail.

    Order: records first, then the spool entry, then the queue. A crash between the first two leaves a
    pending message without an entry, which the delivery queue re-injects at its next start.
    """

    def __init__(self, stores: Stores, *, spool, delivery) -> None:
        super().__init__(stores)
        self.spool, self.delivery = spool, delivery  # receive.spool.Spool, receive.delivery.DeliveryQueue

    async def release(self, *, queue_id: str, actor: str, reason: str) -> str:
        state = await run_in_threadpool(self._apply, quarantine_store.release, queue_id, actor, reason, False)
        await run_in_threadpool(self._respool, queue_id)
        self.delivery.submit(queue_id)
        return state

    def _respool(self, queue_id: str) -> None:
        from kakuri.receive.delivery import entry_from_record

        with self.stores.sessions() as db:
            message = quarantine_store.get_message(db, queue_id=queue_id)
            raw = quarantine_store.raw_message(self.stores.blobs, message)
            self.spool.write(entry_from_record(message, raw, origin="release"))
