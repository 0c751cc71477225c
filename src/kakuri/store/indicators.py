"""Imported indicators of compromise (STIX 2.1, MISP, abuse.ch feeds, our own incidents) and feed state.

One row per (kind, value, source): the same hash from two sources is two rows, so removing one source
(a feed that withdrew an entry) never loses what the other said. Kinds are those the retro-scan and
the scanner can match: sha256, md5, sha1, url, domain, ip, email, subject.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kakuri.store.db import Base
from kakuri.store.messages import utcnow

KINDS = ("sha256", "md5", "sha1", "url", "domain", "ip", "email", "subject")


class Indicator(Base):
    __tablename__ = "ioc_indicators"
    __table_args__ = (UniqueConstraint("kind", "value", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(2000))
    source: Mapped[str] = mapped_column(String(300))  # "stix:bundle--…", "misp:<event uuid>", "feed:<name>", "incident:3"
    description: Mapped[str] = mapped_column(Text, default="")
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeedState(Base):
    """The last good download of one feed, and what the server said about it (for conditional requests)."""

    __tablename__ = "ioc_feeds"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    etag: Mapped[str] = mapped_column(String(300), default="")
    last_modified: Mapped[str] = mapped_column(String(100), default="")
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    indicators: Mapped[int] = mapped_column(Integer, default=0)
