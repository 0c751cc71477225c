"""Message trace: find what happened to a mail by sender, recipient, subject, Message-ID or time.

Fragments are matched with ILIKE, which PostgreSQL answers from the trigram indexes (migration 0013c);
pages go back in time by keyset (`before` = the last row's received_at and queue id), never OFFSET.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from kakuri.store.messages import Message, Recipient, as_utc


def _like(value: str) -> str:
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(session: Session, **criteria) -> list[Message]:
    """The messages `query(**criteria)` selects."""
    return list(session.scalars(query(**criteria)))


def query(
    *,
    sender: str | None = None,
    recipient: str | None = None,
    subject: str | None = None,
    message_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    state: str | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 200,
) -> Select:
    """Newest first. Sender and recipient match substrings of envelope addresses (case-insensitive);
    `before` (received_at, queue_id) starts after that row, for the next page."""
    stmt = select(Message)
    if sender:
        stmt = stmt.where(Message.mail_from.ilike(_like(sender), escape="\\"))
    if recipient:
        stmt = stmt.where(
            Message.queue_id.in_(
                select(Recipient.queue_id).where(Recipient.address.ilike(_like(recipient), escape="\\"))
            )
        )
    if subject:
        stmt = stmt.where(Message.subject.ilike(_like(subject), escape="\\"))
    if message_id:
        stmt = stmt.where(Message.message_id == message_id.strip().strip("<>"))
    if since:
        stmt = stmt.where(Message.received_at >= since)
    if until:
        stmt = stmt.where(Message.received_at < until)
    if state:
        stmt = stmt.where(Message.state == state)
    if before:
        stmt = stmt.where(tuple_(Message.received_at, Message.queue_id) < tuple_(*before))
    return stmt.order_by(Message.received_at.desc(), Message.queue_id.desc()).limit(limit)


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None


def trace_rows(messages: list[Message]) -> Iterator[dict]:
    """One flat record per message and recipient (the `--jsonl` format)."""
    for m in messages:
        related = related_messages(m)
        for r in m.recipients:
            yield {
                "queue_id": m.queue_id,
                "message_id": m.message_id,
                "mail_from": m.mail_from,
                "rcpt_to": r.address,
                "rcpt_tos": [x.address for x in m.recipients],
                "subject": m.subject,
                "direction": r.direction,
                "client_ip": m.client_ip,
                "helo": m.helo,
                "origin": m.origin,  # smtp, or mail kakuri made itself: dsn, warning
                "action": m.action,
                "score": m.score,
                "symbols": m.symbols,
                "state": m.state,
                "recipient_status": r.status,
                "attempts": r.attempts,
                "last_reply": r.last_reply,
                "received_at": _iso(m.received_at),
                "scanned_at": _iso(m.scanned_at),
                "delivered_at": _iso(r.delivered_at),
                "finished_at": _iso(m.finished_at),
                "next_attempt_at": _iso(r.next_attempt_at),
                "related": related,
            }


def related_messages(m: Message) -> list[str]:
    """Queue ids the gateway judged together with this one (a PPAP archive and its password mail)."""
    return sorted({str(e.detail["related"]) for e in m.audit if isinstance(e.detail, dict) and e.detail.get("related")})
