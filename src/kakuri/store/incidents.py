"""Tables of outbreak response: emergency modes, incidents with their links and timeline, warnings sent.

Emergency modes live in the database, not in a process, so every gateway worker and node sees a switch
within its cache period (seconds), and each switch is an audited row (who, when, why).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kakuri.store.db import Base
from kakuri.store.messages import utcnow


class EmergencyMode(Base):
    __tablename__ = "ir_emergency_modes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # respond.emergency.ModeKind
    value: Mapped[str] = mapped_column(String(320), default="")  # sender address or host IP, per kind
    reason: Mapped[str] = mapped_column(Text, default="")
    enabled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    enabled_by: Mapped[str] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    disabled_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("ir_incidents.id"), nullable=True)


class Incident(Base):
    __tablename__ = "ir_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | closed
    severity: Mapped[str] = mapped_column(String(16), default="high")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(255))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")

    links: Mapped[list[IncidentLink]] = relationship(cascade="all, delete-orphan", order_by="IncidentLink.id", lazy="selectin")
    events: Mapped[list[IncidentEvent]] = relationship(cascade="all, delete-orphan", order_by="IncidentEvent.id", lazy="selectin")


class IncidentLink(Base):
    """A host, account, message (queue id), indicator or contact that belongs to an incident."""

    __tablename__ = "ir_incident_links"
    __table_args__ = (UniqueConstraint("incident_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("ir_incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # host | account | message | indicator | contact
    value: Mapped[str] = mapped_column(String(2000))
    note: Mapped[str] = mapped_column(Text, default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IncidentEvent(Base):
    """One line of the timeline: detections, notes, actions taken, switches, warnings, releases."""

    __tablename__ = "ir_incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("ir_incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))  # opened, note, detection, isolation, emergency, warning, release, closed
    text: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class WarningMail(Base):
    """A warning sent (or to send) to one contact about one incident: deduplicated per incident and address."""

    __tablename__ = "ir_warnings"
    __table_args__ = (UniqueConstraint("incident_id", "recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("ir_incidents.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="ja")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    queue_id: Mapped[str | None] = mapped_column(String(40), nullable=True)  # when sent through the gateway queue
    last_reply: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
