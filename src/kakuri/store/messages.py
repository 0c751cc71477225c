"""Tables of the gateway: one row per accepted (or rejected) message, its recipients, and an audit log.

A message row is keyed by the gateway's queue id (the id in our `250 ... queued as` reply), so every
step that writes it can be repeated after a crash without creating a second row. The raw message is
not in the database: `blob_sha256` points into the blob store (`store/blobs.py`).

Message states (`MessageState`) summarise the recipients' states (`RecipientStatus`); the recipient
rows are the truth for delivery. Times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kakuri.store.db import Base


class MessageState(StrEnum):
    QUEUED = "queued"  # accepted, in the spool, scanning or delivery still to do
    DELIVERED = "delivered"  # every recipient is final and at least one was delivered
    QUARANTINED = "quarantined"  # kept for review, not delivered
    RELEASED = "released"  # was quarantined or held, released by someone (re-delivered from the spool)
    DELETED = "deleted"  # quarantined or held, then deleted by someone (blob may be purged)
    HELD = "held"  # kept by an emergency policy, to be released or bounced in bulk
    BOUNCED = "bounced"  # every recipient failed permanently; a DSN went to the sender
    REJECTED = "rejected"  # refused at SMTP time (550): never accepted, recorded for trace


class RecipientStatus(StrEnum):
    PENDING = "pending"  # to be delivered (first attempt not made yet)
    DEFERRED = "deferred"  # temporary failure; next_attempt_at says when we try again
    DELIVERED = "delivered"  # the next hop answered 250 for this recipient
    BOUNCED = "bounced"  # permanent failure or retries exhausted
    QUARANTINED = "quarantined"
    HELD = "held"
    DELETED = "deleted"
    REJECTED = "rejected"


WAITING = (RecipientStatus.PENDING, RecipientStatus.DEFERRED)  # statuses that keep a spool entry alive


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class Message(Base):
    __tablename__ = "gw_messages"

    queue_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), default="", index=True)  # header, without <>
    mail_from: Mapped[str] = mapped_column(String(320), default="", index=True)  # "" = null sender
    from_header: Mapped[str] = mapped_column(Text, default="")
    to_header: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    date_header: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    blob_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    helo: Mapped[str] = mapped_column(String(255), default="")
    auth_user: Mapped[str] = mapped_column(String(255), default="")
    origin: Mapped[str] = mapped_column(String(16), default="smtp")  # smtp | dsn
    action: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)  # verdict action
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    symbols: Mapped[list] = mapped_column(JSON, default=list)  # symbol names, for filtering
    findings: Mapped[list] = mapped_column(JSON, default=list)  # Finding.as_dict() with evidence
    state: Mapped[str] = mapped_column(String(16), default=MessageState.QUEUED, index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    scanned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    recipients: Mapped[list[Recipient]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="Recipient.id", lazy="selectin"
    )
    audit: Mapped[list[AuditEvent]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="AuditEvent.id", lazy="selectin"
    )


class Recipient(Base):
    __tablename__ = "gw_recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[str] = mapped_column(ForeignKey("gw_messages.queue_id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320), index=True)
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    status: Mapped[str] = mapped_column(String(16), default=RecipientStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_reply: Mapped[str] = mapped_column(Text, default="")  # the next hop's last answer, e.g. "451 4.3.0 ..."
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    message: Mapped[Message] = relationship(back_populates="recipients")


class AuditEvent(Base):
    """Who did what to a message: the gateway (actor "gateway") and people (their login or unix name)."""

    __tablename__ = "gw_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[str] = mapped_column(ForeignKey("gw_messages.queue_id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(32))  # received, scanned, delivered, deferred, released, ...
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    message: Mapped[Message] = relationship(back_populates="audit")
