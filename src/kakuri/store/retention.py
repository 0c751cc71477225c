"""Retention of delivered mail, so that it can be judged again when we learn more (retro-scan).

`[retention]` in kakuri.toml: on by default for 14 days, inbound and internal mail, size-capped,
optionally encrypted at rest (Fernet, key in a file the operator keeps). Copies are content-addressed
in their own folder (`<home>/retained`), apart from the quarantine's blobs, so expiring one never
deletes the other's copy.

A retained copy is written atomically (temporary name, then rename) but not fsynced: it exists for
re-examination, and a copy lost in a power cut costs one message's retro-scan, while an fsync per
delivered message would cost the gateway's throughput every day.

Tables (branch "retro" of the migrations):
- `rt_retained`: one row per retained message (queue id -> blob key, size, when it expires);
- `rt_features`: what a message carries that indicators name (file hashes, URLs, hosts, senders, client IP),
  written by the gateway's scan worker at delivery (or the first retro-scan that parsed it), with the rule
  version it was judged clean under, so indicator matches and same-rules retro-scans need no parsing;
- `rt_judged`: attachment hashes and URLs judged clean under a rule version (the retro-scan skips
  messages made only of such items);
- `rt_findings`: delivered mail a retro-scan now judges malicious, with the incident it was linked to;
- `rt_clawback`: each attempt to take such a message out of one recipient's mailbox, and its undo;
- `rt_jobs`: each retro-scan run (why, under which rule version, its counts); `slot` is 1 while a job
  runs and NULL after, and a unique index on it lets one job run at a time on every node.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kakuri.store.blobs import FileBlobStore
from kakuri.store.db import Base
from kakuri.store.messages import utcnow


class RetentionConfig(BaseModel):
    """`[retention]`."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    days: float = 14.0
    directions: list[str] = ["inbound", "internal"]  # whose mailboxes a clawback can reach
    max_total_bytes: int = 20 * 1024**3  # over this, the oldest copies expire first
    max_message_bytes: int = 50 * 1024**2  # larger messages are not retained
    dir: str = "retained"  # relative to the data folder
    encryption_key_file: str = ""  # a Fernet key (`kakuri retention keygen`); "" = stored as received


class RetainedMessage(Base):
    __tablename__ = "rt_retained"

    queue_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    blob_key: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    retained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class MessageFeatures(Base):
    __tablename__ = "rt_features"

    queue_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    items: Mapped[list] = mapped_column(JSON, default=list)  # "sha256:..", "url:..", "domain:..", "email:..", "ip:.."
    extracted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The rule version it was last judged clean under (by the gateway at delivery, or a retro-scan);
    # a retro-scan under that version skips it without reading it. NULL: judged bad, or never.
    judged_version: Mapped[str | None] = mapped_column(String(64), nullable=True)


class JudgedItem(Base):
    __tablename__ = "rt_judged"

    item: Mapped[str] = mapped_column(String(2100), primary_key=True)  # "sha256:.." or "url:.."
    rule_version: Mapped[str] = mapped_column(String(64), index=True)
    judged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RetroFinding(Base):
    __tablename__ = "rt_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[str] = mapped_column(String(40), index=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rule_version: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(16), default="quarantine")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    matched: Mapped[list] = mapped_column(JSON, default=list)  # indicators and symbols that now fire
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    recipients: Mapped[list] = mapped_column(JSON, default=list)  # the mailboxes it reached


class ClawbackRecord(Base):
    __tablename__ = "rt_clawback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[str] = mapped_column(String(40), index=True)
    message_id: Mapped[str] = mapped_column(String(998), default="")
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    action: Mapped[str] = mapped_column(String(16))  # move | delete | undo
    result: Mapped[str] = mapped_column(String(24))  # respond.clawback.Outcome
    folder: Mapped[str] = mapped_column(String(255), default="")  # where it was found
    detail: Mapped[str] = mapped_column(Text, default="")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(255), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RetroJob(Base):
    __tablename__ = "rt_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)  # 1 while running
    reason: Mapped[str] = mapped_column(String(200))  # "iocs import x.json", "rules reload", "new rule version", "manual"
    state: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed | abandoned
    rule_version: Mapped[str] = mapped_column(String(64), default="")
    full: Mapped[bool] = mapped_column(Boolean, default=True)  # rules applied (False: indicators matched only)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    total: Mapped[int] = mapped_column(Integer, default=0)  # messages in the window
    examined: Mapped[int] = mapped_column(Integer, default=0)
    scanned: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


def insert_ignoring(session: Session, table, rows: list[dict]) -> None:
    """INSERT that leaves an existing primary key alone (a replayed spool entry, a re-judged item)."""
    from kakuri.store.deferred import insert_rows

    # Core table: the ORM's bulk INSERT path cost more than the rest of a message's records; in the
    # gateway's group commit the rows join the other messages' (store/deferred.py).
    insert_rows(session, getattr(table, "__table__", table), rows, ignore_conflicts=True)


class RetainedBlobs(FileBlobStore):
    """Content-addressed copies (key = SHA-256 of the plain message), optionally Fernet-encrypted.

    Written without fsync: a copy lost in a crash only narrows the retro-scan, and the gateway's
    throughput must not pay a second fsync per delivered message."""

    def __init__(self, root: Path, *, key_file: Path | None = None) -> None:
        super().__init__(root)
        self._fernet = load_fernet(key_file)

    def _write(self, path: Path, data: bytes) -> None:
        tmp = self.tmp / f"{path.name}.{os.getpid()}.{id(data)}.tmp"
        tmp.write_bytes(self._fernet.encrypt(data) if self._fernet else data)
        os.replace(tmp, path)

    def _read(self, path: Path) -> bytes:
        data = path.read_bytes()
        return self._fernet.decrypt(data) if self._fernet else data


def load_fernet(key_file: Path | None):
    """The Fernet of `[retention] encryption_key_file`, or None when retained mail is stored as it is."""
    if key_file is None:
        return None
    from cryptography.fernet import Fernet

    try:
        return Fernet(Path(key_file).read_bytes().strip())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"[retention] encryption_key_file {key_file}: {exc}; make one with `kakuri retention keygen`"
        ) from exc


class Retention:
    """What the gateway calls for each delivered message, and the expiry job.

    The copies are files in `[retention] dir`, or on PostgreSQL rows of `retained_blob_store`, so that the
    retro-scan of any node reads what every node retained (files an earlier version wrote are still read)."""

    def __init__(self, config: RetentionConfig, home: Path, *, engine=None) -> None:
        self.config = config
        self.rule_version = ""  # of the scan that lets retained mail through (the gateway sets it)
        key_file = (Path(home) / config.encryption_key_file) if config.encryption_key_file else None
        folder = Path(home) / config.dir
        if engine is not None and engine.dialect.name == "postgresql":
            from kakuri.store.blobs import PgBlobStore
            from kakuri.store.cluster_tables import RetainedBlob

            files = RetainedBlobs(folder, key_file=key_file) if folder.exists() else None
            # Not durable, like the files: a copy lost in a crash only narrows the retro-scan.
            self.blobs = PgBlobStore(engine, table=RetainedBlob.__table__, cipher=load_fernet(key_file),
                                     fallback=files, durable=False)
        else:
            self.blobs = RetainedBlobs(folder, key_file=key_file)

    @classmethod
    def from_settings(cls, settings, *, engine=None) -> Retention | None:
        """The gateway's (None when [retention] enabled = false)."""
        config = RetentionConfig.model_validate(settings.section("retention"))
        return cls.of(settings, engine=engine) if config.enabled else None

    @classmethod
    def of(cls, settings, *, engine=None) -> Retention:
        """Enabled or not (expiry, retro-scan workers); `engine` defaults to one for [store] url when PostgreSQL."""
        config = RetentionConfig.model_validate(settings.section("retention"))
        if engine is None:
            from kakuri.store.config import StoreConfig
            from kakuri.store.db import make_engine

            url = StoreConfig.model_validate(settings.section("store")).url
            engine = make_engine(url) if url.startswith("postgresql") else None
        return cls(config, Path(settings.home), engine=engine)

    def wants(self, *, direction: str, size: int) -> bool:
        return direction in self.config.directions and size <= self.config.max_message_bytes

    def keep(self, raw: bytes) -> str:
        return self.blobs.put(raw)

    def record(self, session: Session, *, queue_id: str, key: str, size: int, at: datetime | None = None,
               items: list[str] | None = None) -> None:
        """Insert the row in the caller's transaction (the gateway's group commit).

        `items`: the message's features from the scan that let it through (respond.retroscan.features_of),
        judged clean under `self.rule_version` (set by the gateway; "" = unknown)."""
        at = at or utcnow()
        row = dict(queue_id=queue_id, blob_key=key, size=size, retained_at=at,
                   expires_at=at + timedelta(days=self.config.days))
        insert_ignoring(session, RetainedMessage, [row])
        if items is not None:
            insert_ignoring(session, MessageFeatures, [dict(queue_id=queue_id, items=items, extracted_at=at,
                                                            judged_version=self.rule_version or None)])

    def expire(self, session: Session, *, now: datetime | None = None) -> tuple[int, int]:
        """Drop copies past their time, then the oldest ones while over `max_total_bytes`.

        Returns (messages expired, bytes freed). A blob shared by several rows (the same bytes retained
        twice) is deleted with its last row."""
        now = now or utcnow()
        doomed = list(session.scalars(select(RetainedMessage).where(RetainedMessage.expires_at <= now)))
        total = (session.scalar(select(func.coalesce(func.sum(RetainedMessage.size), 0))) or 0) - sum(
            r.size for r in doomed
        )
        if total > self.config.max_total_bytes:
            gone = {r.queue_id for r in doomed}
            oldest = select(RetainedMessage).where(RetainedMessage.expires_at > now).order_by(RetainedMessage.retained_at)
            for row in session.scalars(oldest.execution_options(yield_per=1000)):
                if total <= self.config.max_total_bytes:
                    break
                if row.queue_id not in gone:
                    doomed.append(row)
                    total -= row.size
        ids = [r.queue_id for r in doomed]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            session.execute(delete(RetainedMessage).where(RetainedMessage.queue_id.in_(chunk)))
            session.execute(delete(MessageFeatures).where(MessageFeatures.queue_id.in_(chunk)))
        keys = {r.blob_key for r in doomed}
        still = set(session.scalars(select(RetainedMessage.blob_key).where(RetainedMessage.blob_key.in_(keys))))
        session.commit()
        for key in keys - still:
            self.blobs.delete(key)
        return len(ids), sum(r.size for r in doomed)
