"""Read queries the console needs beyond the store's services: keyset-paged search and dashboard counts.

Keyset paging (`received_at, queue_id` below the last row seen) costs the same on page 1 and page
2,000, where OFFSET would read and drop every earlier row; the index `ix_gw_messages_state_received`
(migration 0004a) serves both the state filter and the order. Fragments of senders, subjects and
recipients are matched with ILIKE, which PostgreSQL answers from the trigram indexes of migration 0013c
(SQLite, the embedded default, reads `lower(x) LIKE lower(y)`, by scanning).
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, Text, cast, select, tuple_
from sqlalchemy.orm import Session, lazyload, selectinload

from kakuri.store import counts
from kakuri.store.messages import AuditEvent, Message, Recipient, as_utc


@dataclass(frozen=True)
class MessageFilter:
    states: tuple[str, ...] = ("quarantined",)
    since: datetime | None = None
    until: datetime | None = None
    sender: str = ""
    recipient: str = ""
    symbol: str = ""
    direction: str = ""
    text: str = ""  # subject substring or Message-ID


def encode_cursor(at: datetime, key: str | int) -> str:
    raw = f"{as_utc(at).isoformat()}|{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """(time, key) or None; a damaged cursor raises ValueError (a 422 for the API)."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, key = raw.partition("|")
        return _utc_naive_safe(datetime.fromisoformat(at)), key
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("bad cursor") from exc


def _utc_naive_safe(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _contains(column, value: str):
    return column.icontains(value, autoescape=True)


def _filtered(flt: MessageFilter) -> Select:
    stmt = select(Message).where(Message.state.in_(flt.states))
    if flt.since:
        stmt = stmt.where(Message.received_at >= flt.since.astimezone(UTC))
    if flt.until:
        stmt = stmt.where(Message.received_at < flt.until.astimezone(UTC))
    if flt.direction:
        stmt = stmt.where(Message.direction == flt.direction)
    if flt.sender:
        stmt = stmt.where(_contains(Message.mail_from, flt.sender) | _contains(Message.from_header, flt.sender))
    if flt.recipient:
        value = flt.recipient.strip().lower()
        # A whole address uses the recipient index; a fragment ("@example.jp") has to scan.
        match = Recipient.address == value if "@" in value[1:] else _contains(Recipient.address, value)
        stmt = stmt.where(Message.queue_id.in_(select(Recipient.queue_id).where(match)))
    if flt.symbol:
        stmt = stmt.where(cast(Message.symbols, Text).contains(f'"{flt.symbol.strip().upper()}"', autoescape=True))
    if flt.text:
        text = flt.text.strip()
        stmt = stmt.where(_contains(Message.subject, text) | (Message.message_id == text.strip("<>")))
    return stmt


def search_messages(
    db: Session, flt: MessageFilter, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[Message], str | None]:
    """Newest first; returns (page, cursor of the next older page or None)."""
    stmt = _filtered(flt).options(selectinload(Message.recipients), lazyload(Message.audit))
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(tuple_(Message.received_at, Message.queue_id) < tuple_(after[0], after[1]))
    rows = list(db.scalars(stmt.order_by(Message.received_at.desc(), Message.queue_id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].received_at, rows[-1].queue_id) if more else None


def audit_page(
    db: Session, *, queue_id: str = "", actor: str = "", event: str = "", cursor: str | None = None, limit: int = 100
) -> tuple[list[AuditEvent], str | None]:
    stmt = select(AuditEvent)
    if queue_id:
        stmt = stmt.where(AuditEvent.queue_id == queue_id)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if event:
        stmt = stmt.where(AuditEvent.event == event)
    after = decode_cursor(cursor)
    if after:
        if not after[1].isdigit():
            raise ValueError("bad cursor")
        stmt = stmt.where(AuditEvent.id < int(after[1]))
    rows = list(db.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].at, rows[-1].id) if more else None


# --- dashboard ------------------------------------------------------------------------------------


@dataclass
class DashboardData:
    since: datetime
    hours: int
    per_hour: list[tuple[datetime, dict[str, int]]]
    symbols: list[tuple[str, int]]
    families: list[tuple[str, int]]
    recipients: list[tuple[str, int]]
    impersonated: list[tuple[str, int]]


def dashboard(db: Session, *, now: datetime, hours: int, groups: dict[str, str], top: int = 10) -> DashboardData:
    """Counts for the last `hours` hours from the count tables (store/counts.py), never over gw_messages;
    `groups` maps symbol -> family (from the symbol catalogue)."""
    start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    since = counts.epoch_hour(start)
    by_hour: dict[int, dict[str, int]] = {}
    for hour, action, count in counts.summed(db, counts.ACTION, since, by_hour=True):
        by_hour.setdefault(hour, {})[action] = count
    per_hour = [(start + timedelta(hours=i), by_hour.get(since + i, {})) for i in range(hours)]
    symbols = Counter(dict(counts.summed(db, counts.SYMBOL, since)))
    families: Counter[str] = Counter()
    for symbol, count in symbols.items():
        families[groups.get(symbol) or symbol.split("_", 1)[0].lower()] += count
    return DashboardData(
        since=start,
        hours=hours,
        per_hour=per_hour,
        symbols=symbols.most_common(top),
        families=families.most_common(top),
        recipients=counts.summed(db, counts.RECIPIENT, since, top=top),
        impersonated=counts.summed(db, counts.IMPERSONATED, since, top=top),
    )


