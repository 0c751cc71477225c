"""Quarantine service: list, show, release and delete kept messages, each change audited with who and why.

Keyword-only functions over a Session (the console, the CLI and the gateway call the same ones).
`release` only changes the records; re-injecting the raw message into delivery is the caller's
half (`kakuri.act.release.release_message` does both, in the order that survives a crash).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kakuri.store.blobs import BlobStore
from kakuri.store.messages import AuditEvent, Message, MessageState, RecipientStatus, utcnow

KEPT = (MessageState.QUARANTINED, MessageState.HELD)


class QuarantineError(ValueError):
    """The request cannot be met (unknown message, wrong state); the text is safe to show."""


def list_messages(session: Session, *, states=KEPT, limit: int = 50, offset: int = 0) -> list[Message]:
    stmt = (
        select(Message)
        .where(Message.state.in_([str(s) for s in states]))
        .order_by(Message.received_at.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt))


def count_messages(session: Session, *, states=KEPT) -> int:
    return session.scalar(select(func.count()).select_from(Message).where(Message.state.in_([str(s) for s in states])))


def get_message(session: Session, *, queue_id: str) -> Message:
    message = session.get(Message, queue_id)
    if message is None:
        raise QuarantineError(f"no message with queue id {queue_id}")
    return message


def release(session: Session, *, queue_id: str, actor: str, reason: str = "") -> Message:
    """Mark a quarantined or held message for delivery to the recipients that were kept."""
    message = get_message(session, queue_id=queue_id)
    if message.state not in KEPT:
        raise QuarantineError(f"{queue_id} is {message.state}, only quarantined or held mail can be released")
    if not message.blob_sha256:
        raise QuarantineError(f"{queue_id} has no stored copy to release")
    for rcpt in message.recipients:
        if rcpt.status in (RecipientStatus.QUARANTINED, RecipientStatus.HELD):
            rcpt.status = RecipientStatus.PENDING
            rcpt.next_attempt_at = None
    message.state = MessageState.RELEASED
    message.finished_at = None
    message.audit.append(AuditEvent(actor=actor, event="released", reason=reason))
    session.commit()
    return message


def delete(session: Session, *, queue_id: str, actor: str, reason: str = "", blobs: BlobStore | None = None) -> Message:
    """Drop a kept message: recipients become deleted, and the stored copy goes unless another row uses it."""
    message = get_message(session, queue_id=queue_id)
    if message.state not in KEPT:
        raise QuarantineError(f"{queue_id} is {message.state}, only quarantined or held mail can be deleted")
    for rcpt in message.recipients:
        if rcpt.status in (RecipientStatus.QUARANTINED, RecipientStatus.HELD):
            rcpt.status = RecipientStatus.DELETED
    message.state = MessageState.DELETED
    message.finished_at = utcnow()
    message.audit.append(AuditEvent(actor=actor, event="deleted", reason=reason))
    key, message.blob_sha256 = message.blob_sha256, None
    session.commit()
    if blobs is not None and key and not session.scalar(select(Message.queue_id).where(Message.blob_sha256 == key)):
        blobs.delete(key)
    return message


def raw_message(blobs: BlobStore, message: Message) -> bytes:
    if not message.blob_sha256:
        raise QuarantineError(f"{message.queue_id} has no stored copy")
    try:
        return blobs.get(message.blob_sha256)
    except KeyError:
        raise QuarantineError(f"{message.queue_id}: stored copy {message.blob_sha256} is missing") from None
