"""What the gateway writes as mail flows: accepted messages, verdicts, delivery attempts, final states.

Every function is idempotent for a given queue id, so replaying a spool entry after a crash repeats
no visible effect: `record_accepted` returns the existing row, `record_attempt` only moves recipients
that are still waiting. Each function commits once (unless told not to); the caller owns the session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kakuri.store import counts
from kakuri.store.deferred import insert_rows
from kakuri.store.messages import (
    WAITING,
    AuditEvent,
    Message,
    MessageState,
    Recipient,
    RecipientStatus,
    utcnow,
)

GATEWAY = "gateway"

# The verdict decides what happens to each recipient at first; deliver and tag wait for delivery.
_INITIAL_STATUS = {
    "deliver": RecipientStatus.PENDING,
    "tag": RecipientStatus.PENDING,
    "quarantine": RecipientStatus.QUARANTINED,
    "hold": RecipientStatus.HELD,
    # A reject verdict reached after our 250 (slow scan) cannot be refused any more: keep it.
    "reject": RecipientStatus.QUARANTINED,
}


def record_accepted(
    session: Session,
    *,
    results: dict[str, tuple[RecipientStatus, str, datetime | None]] | None = None,
    commit: bool = True,
    known_new: bool = False,
    **fields,
) -> Message:
    """Create the message with its verdict and recipients, or return the one recorded before a crash.

    `fields` are those of `new_message` (queue id, envelope, verdict, header summary, state...).
    `results` records a delivery attempt made before the message was recorded, in the same transaction
    (mail that is delivered at once then costs one commit, not two). `commit=False` leaves the commit to
    the caller (the gateway's group commit, `receive/dbwriter.py`). `known_new` skips the lookup when the
    caller made the queue id itself in this run (a duplicate would then fail the INSERT, not pass silently)."""
    existing = None if known_new else session.get(Message, fields["queue_id"])
    if existing is not None:
        return existing
    message = new_message(**fields)
    if results:
        _apply(message, results)
        _settle(message)
    if commit:
        session.add(message)
        counts.record(session, message)  # the dashboard's counts, in the same transaction
        session.commit()
    else:
        insert_new(session, message)
    return message


def insert_new(session: Session, message: Message) -> None:
    """Insert a message made by `new_message`, its recipients and audit events with three Core INSERTs.

    The gateway's group commit uses this instead of `session.add`: the ORM's unit of work cost more
    CPU per message than everything else the writer does. The objects stay transient (no ids): the
    caller reads their fields, and later steps load the message from the database."""
    # In the group commit these rows join the other messages' in one INSERT per table (store/deferred.py).
    insert_rows(session, Message.__table__, [_row(message)])
    insert_rows(session, Recipient.__table__, [_row(r, queue_id=message.queue_id) for r in message.recipients])
    insert_rows(session, AuditEvent.__table__, [_row(a, queue_id=message.queue_id) for a in message.audit])
    counts.record(session, message)


def _row(obj, **fixed) -> dict:
    """Column values of a transient ORM object, with the columns' Python defaults for unset ones."""
    row = {}
    for column in obj.__table__.columns:
        if column.key in fixed:
            row[column.key] = fixed[column.key]
            continue
        if column.primary_key and column.autoincrement is not False and column.key == "id":
            continue  # the database numbers recipients and audit events
        value = obj.__dict__.get(column.key)
        if value is None and column.default is not None:
            default = column.default
            value = default.arg(None) if default.is_callable else default.arg
        row[column.key] = value
    return row


def new_message(
    *,
    queue_id: str,
    mail_from: str,
    rcpt_directions: dict[str, str],
    direction: str,
    received_at: datetime,
    size: int,
    verdict: dict,
    headers: dict,
    client_ip: str = "",
    helo: str = "",
    auth_user: str = "",
    origin: str = "smtp",
    blob_sha256: str | None = None,
    state: MessageState | None = None,
) -> Message:
    """The message row with its recipients in their first state, not yet added to any session."""
    status = RecipientStatus.REJECTED if state is MessageState.REJECTED else _INITIAL_STATUS[verdict["action"]]
    message = Message(
        queue_id=queue_id,
        message_id=headers.get("message_id", "")[:998],
        mail_from=mail_from,
        from_header=headers.get("from", ""),
        to_header=headers.get("to", ""),
        subject=headers.get("subject", ""),
        date_header=headers.get("date", "")[:200],
        size=size,
        blob_sha256=blob_sha256,
        direction=direction,
        client_ip=client_ip or "",
        helo=(helo or "")[:255],
        auth_user=auth_user or "",
        origin=origin,
        action=verdict["action"],
        score=verdict.get("score", 0.0),
        reasons=list(verdict.get("reasons", [])),
        symbols=list(verdict.get("symbols", [])),
        findings=list(verdict.get("findings", [])),
        received_at=received_at,
        scanned_at=utcnow(),
        recipients=[Recipient(address=a, direction=d, status=status, attempts=0) for a, d in rcpt_directions.items()],
    )
    if state:
        message.state = state
        message.finished_at = utcnow()
    else:
        _settle(message)
    message.audit.append(
        AuditEvent(
            actor=GATEWAY, event="received", reason="; ".join(message.reasons), detail={"action": message.action}
        )
    )
    return message


def record_attempt(
    session: Session,
    *,
    queue_id: str,
    results: dict[str, tuple[RecipientStatus, str, datetime | None]],
    commit: bool = True,
) -> Message:
    """Apply one delivery attempt: address -> (new status, next hop's reply, next attempt time)."""
    message = session.get(Message, queue_id)
    if message is None:
        raise KeyError(queue_id)
    _apply(message, results)
    _settle(message)
    if commit:
        session.commit()
    return message


def record_not_accepted(session: Session, *, queue_id: str, reply: str) -> Message | None:
    """A message recorded before an answer that never reached the MTA (the milter was killed in between; the
    MTA applied its default action and the client sent the message again): it was not accepted after all.
    Its recipients become rejected with `reply`; the caller commits."""
    message = session.get(Message, queue_id)
    if message is None or message.state == MessageState.REJECTED:
        return message
    for rcpt in message.recipients:
        rcpt.status, rcpt.last_reply, rcpt.delivered_at = RecipientStatus.REJECTED, reply[:1000], None
    message.state, message.finished_at = MessageState.REJECTED, utcnow()
    message.audit.append(AuditEvent(actor=GATEWAY, event="not accepted", reason=reply[:500], detail={}))
    return message


def _apply(message: Message, results: dict[str, tuple[RecipientStatus, str, datetime | None]]) -> None:
    now = utcnow()
    for rcpt in message.recipients:
        if rcpt.address not in results or rcpt.status not in WAITING:
            continue
        status, reply, next_at = results[rcpt.address]
        rcpt.status = status
        rcpt.attempts += 1
        rcpt.last_reply = reply[:1000]
        rcpt.next_attempt_at = next_at
        if status is RecipientStatus.DELIVERED:
            rcpt.delivered_at = now
        message.audit.append(
            AuditEvent(actor=GATEWAY, event=str(status), reason=reply[:500], detail={"recipient": rcpt.address})
        )


def _settle(message: Message) -> None:
    message.state = _summarize(message)
    # finished_at: when the last recipient reached a final state (what trace and the benchmark report).
    message.finished_at = None if waiting_recipients(message) else (message.finished_at or utcnow())


def _summarize(message: Message) -> MessageState:
    statuses = {r.status for r in message.recipients}
    released = message.state == MessageState.RELEASED
    if statuses & set(WAITING):
        return MessageState.RELEASED if released else MessageState.QUEUED
    if RecipientStatus.DELIVERED in statuses:
        return MessageState.RELEASED if released else MessageState.DELIVERED
    for status, state in (
        (RecipientStatus.BOUNCED, MessageState.BOUNCED),
        (RecipientStatus.QUARANTINED, MessageState.QUARANTINED),
        (RecipientStatus.HELD, MessageState.HELD),
        (RecipientStatus.REJECTED, MessageState.REJECTED),
    ):
        if status in statuses:
            return state
    return MessageState.DELETED


def waiting_recipients(message: Message) -> list[Recipient]:
    return [r for r in message.recipients if r.status in WAITING]


def bounced_recipients(message: Message) -> list[Recipient]:
    return [r for r in message.recipients if r.status == RecipientStatus.BOUNCED]


def messages_waiting(session: Session, *, limit: int = 1000) -> list[Message]:
    """Messages with a recipient still to deliver, oldest first (what `kakuri queue` shows)."""
    stmt = (
        select(Message)
        .where(Message.queue_id.in_(select(Recipient.queue_id).where(Recipient.status.in_(list(WAITING)))))
        .order_by(Message.received_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))
