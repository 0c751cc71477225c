"""Release a kept message: the records first, then a spool entry that the gateway delivers.

Order matters for crashes: after `store.quarantine.release` the recipients are pending in the
database; if we die before the spool entry exists, the gateway finds the waiting message without an
entry and re-creates it from the stored copy (`DeliveryQueue` re-injects orphans), so a release is
never lost and, the entry id being the queue id, never doubled.
"""

from __future__ import annotations

from kakuri.model.envelope import Direction, Envelope
from kakuri.receive.spool import Spool, SpoolEntry
from kakuri.store import quarantine
from kakuri.store.config import Stores
from kakuri.store.messages import Message, as_utc


def release_message(*, stores: Stores, spool: Spool, queue_id: str, actor: str, reason: str = "") -> Message:
    """Audited release that re-injects through delivery (raises QuarantineError when not releasable)."""
    with stores.sessions() as session:
        message = quarantine.release(session, queue_id=queue_id, actor=actor, reason=reason)
    raw = quarantine.raw_message(stores.blobs, message)
    spool.write(entry_from_record(message, raw, origin="release"))
    return message


def entry_from_record(message: Message, raw: bytes, *, origin: str) -> SpoolEntry:
    """A spool entry re-made from a stored message; the record already holds the verdict."""
    envelope = Envelope(
        mail_from=message.mail_from,
        rcpt_tos=tuple(r.address for r in message.recipients),
        client_ip=message.client_ip or None,
        helo=message.helo or None,
        direction=Direction(message.direction),
        auth_user=message.auth_user or None,
    )
    return SpoolEntry(
        queue_id=message.queue_id,
        envelope=envelope,
        raw=raw,
        received_at=as_utc(message.received_at).timestamp(),
        rcpt_directions={r.address: r.direction for r in message.recipients},
        origin=origin,
    )
