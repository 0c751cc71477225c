"""Tables of the scale-out mode (several gateway nodes on one PostgreSQL): node registry, shared spool, blobs
(kept copies for review, and retained copies of delivered mail for the retro-scan).

They exist on SQLite too (one migration for both), where nothing uses them: one node keeps its spool in a
folder and its blobs in files.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from kakuri.store.db import Base


class ClusterNode(Base):
    """One running `kakuri serve` (or one acceptor process of it): alive while its heartbeat is fresh."""

    __tablename__ = "cluster_nodes"

    node_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    queue_size: Mapped[int] = mapped_column(Integer, default=0)


class SharedSpoolEntry(Base):
    """A spool entry (receive/spool.SpoolEntry.to_bytes) that every node can reach; `owner` processes it."""

    __tablename__ = "spool_entries"

    queue_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)  # NULL: any node may claim
    corrupt: Mapped[bool] = mapped_column(Boolean, default=False)  # unreadable: kept for a human, never claimed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StoredBlob(Base):
    """A raw message kept for review (quarantine, held, rejected), content-addressed like FileBlobStore."""

    __tablename__ = "blob_store"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RetainedBlob(Base):
    """A retained copy of delivered mail (store/retention.py), Fernet-encrypted when configured; the key is the
    SHA-256 of the plain message, so it has its own table (the same key in `blob_store` holds plain bytes)."""

    __tablename__ = "retained_blob_store"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
