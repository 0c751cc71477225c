"""Read queries the console needs beyond the store's services: keyset-paged search and dashboard counts.

Keyset paging (`received_at, queue_id` below the last row seen) costs the same on page 1 and page
2,000, where OFFSET would read and drop every earlier row; the index `ix_gw_messages_state_received`
(migration 0004a) serves both the state filter and the order.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, Text, cast, func, literal_column, select, true, tuple_
from sqlalchemy.orm import Session, lazyload, selectinload

from kakuri.store.messages import AuditEvent, Message, Recipient, as_utc

THREAT_ACTIONS = ("quarantine", "reject", "hold")


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
    return func.lower(column).contains(value.lower(), autoescape=True)


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
    """Counts for the last `hours` hours; `groups` maps symbol -> family (from the symbol catalogue)."""
    start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    per_hour = _per_hour(db, start, hours)
    in_window = Message.received_at >= start
    symbols = _symbol_counts(db, in_window)
    names: Counter[str] = Counter()
    impersonation = cast(Message.symbols, Text).contains('"IMPERSONATION_', autoescape=True)
    for findings, from_header in db.execute(select(Message.findings, Message.from_header).where(in_window, impersonation)):
        names[_impersonated_name(findings, from_header)] += 1
    families: Counter[str] = Counter()
    for symbol, count in symbols.items():
        families[groups.get(symbol) or symbol.split("_", 1)[0].lower()] += count
    targeted = db.execute(
        select(Recipient.address, func.count())
        .join(Message, Message.queue_id == Recipient.queue_id)
        .where(Message.received_at >= start, Message.action.in_(THREAT_ACTIONS))
        .group_by(Recipient.address)
        .order_by(func.count().desc(), Recipient.address)
        .limit(top)
    ).all()
    names.pop("", None)
    return DashboardData(
        since=start,
        hours=hours,
        per_hour=per_hour,
        symbols=symbols.most_common(top),
        families=families.most_common(top),
        recipients=[(a, c) for a, c in targeted],
        impersonated=names.most_common(top),
    )


def _symbol_counts(db: Session, in_window) -> Counter[str]:
    """Symbol -> messages, unnested in the database (decoding every JSON list in Python took seconds)."""
    unnest = func.json_each if db.get_bind().dialect.name == "sqlite" else func.json_array_elements_text
    element = unnest(Message.symbols).table_valued("value")
    # The table first, then the function that reads its row (implicitly LATERAL in both databases).
    stmt = select(element.c.value, func.count()).select_from(Message).join(element, true())
    rows = db.execute(stmt.where(in_window).group_by(element.c.value))
    return Counter({str(symbol): count for symbol, count in rows})


def _per_hour(db: Session, start: datetime, hours: int) -> list[tuple[datetime, dict[str, int]]]:
    # Literal SQL constants: bound parameters would differ between SELECT and GROUP BY for PostgreSQL.
    if db.get_bind().dialect.name == "sqlite":
        bucket = func.strftime(literal_column("'%Y-%m-%d %H:00:00'"), Message.received_at)
    else:
        utc = func.timezone(literal_column("'UTC'"), Message.received_at)
        bucket = func.to_char(func.date_trunc(literal_column("'hour'"), utc), literal_column("'YYYY-MM-DD HH24:00:00'"))
    action = func.coalesce(Message.action, literal_column("'none'"))
    counts: dict[str, dict[str, int]] = {}
    stmt = select(bucket, action, func.count()).where(Message.received_at >= start).group_by(bucket, action)
    for hour, action, count in db.execute(stmt):
        counts.setdefault(hour, {})[action] = count
    slots = [start + timedelta(hours=i) for i in range(hours)]
    return [(slot, counts.get(slot.strftime("%Y-%m-%d %H:00:00"), {})) for slot in slots]


def _impersonated_name(findings: list, from_header: str) -> str:
    """The name a finding says was impersonated, else the display name the message used."""
    for finding in findings or []:
        if str(finding.get("symbol", "")).startswith("IMPERSONATION_"):
            evidence = finding.get("evidence") or {}
            for key in ("impersonated", "person", "name", "display_name", "matched"):
                if evidence.get(key):
                    return str(evidence[key])[:100]
    return _display_name(from_header or "")


def _display_name(from_header: str) -> str:
    """The part before the last "<": a label for a chart, not an address parser (email.utils.parseaddr
    costs ~0.2 ms a call, which is seconds over a week of an outbreak)."""
    name, bracket, _ = from_header.rpartition("<")
    return name.strip().strip('"').strip()[:100] if bracket else ""
