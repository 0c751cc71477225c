"""Dashboard counts kept beside the records, so the dashboard never counts over gw_messages.

Per UTC hour and direction: messages by verdict action, by symbol, threat mail (quarantine, reject,
hold) per recipient, and impersonated names. Verdicts never change after a message is recorded, and
message rows are never deleted, so a message adds to the counts once, when it is inserted.

Writers append delta rows (`gw_count_deltas`) in the transaction that inserts the message (`record`)
and never update a shared row: gateway nodes committing at once neither wait for nor deadlock on a hot
counter (this hour's "deliver"). `fold` moves deltas into `gw_counts` (one total per key); readers sum
totals and the deltas not folded yet, so a count is exact whenever it is read. `rebuild` recounts
everything from the records (the migration that adds these tables, bulk loads).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Integer, String, Text, cast, delete, func, literal, select, text, union_all
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from kakuri.store.db import Base
from kakuri.store.deferred import insert_rows
from kakuri.store.messages import Message, as_utc

THREAT_ACTIONS = ("quarantine", "reject", "hold")
IMPERSONATION_PREFIX = "IMPERSONATION_"
ACTION, SYMBOL, RECIPIENT, IMPERSONATED = "action", "symbol", "recipient", "impersonated"
_FOLD_LOCK = 0x6B616B75  # pg advisory lock key: one folder at a time ("kaku")
_FOLD_BATCH = 100_000

Key = tuple[int, str, str, str]  # hour, facet, direction, name


class CountTotal(Base):
    __tablename__ = "gw_counts"

    facet: Mapped[str] = mapped_column(String(16), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)  # hours since 1970-01-01 00:00 UTC
    direction: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(320), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class CountDelta(Base):
    __tablename__ = "gw_count_deltas"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    facet: Mapped[str] = mapped_column(String(16))
    hour: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(320))
    count: Mapped[int] = mapped_column(BigInteger)


def epoch_hour(value: datetime) -> int:
    return int(as_utc(value).timestamp() // 3600)


def hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def facts(message: Message) -> Counter[Key]:
    """What one message adds to the counts."""
    hour, direction = epoch_hour(message.received_at), message.direction or "inbound"
    out: Counter[Key] = Counter({(hour, ACTION, direction, message.action or "none"): 1})
    symbols = set(message.symbols or [])
    for symbol in symbols:
        out[(hour, SYMBOL, direction, str(symbol)[:320])] += 1
    if message.action in THREAT_ACTIONS:
        for rcpt in message.recipients:
            out[(hour, RECIPIENT, direction, rcpt.address[:320])] += 1
    if any(str(s).startswith(IMPERSONATION_PREFIX) for s in symbols):
        name = impersonated_name(message.findings, message.from_header)
        if name:
            out[(hour, IMPERSONATED, direction, name)] += 1
    return out


def record(session: Session, message: Message) -> None:
    """Append the message's counts in the caller's transaction (no commit); in the gateway's group commit
    they join the batch's one multi-row INSERT (`store/deferred.py`) instead of a statement per message."""
    insert_rows(session, CountDelta.__table__, _rows(facts(message).items()))


def fold(session: Session) -> int:
    """Move pending deltas into the totals; returns how many delta rows were folded. Commits."""
    pg = session.get_bind().dialect.name == "postgresql"
    moved = 0
    while True:
        if pg:
            if not session.scalar(select(func.pg_try_advisory_xact_lock(_FOLD_LOCK))):
                session.rollback()
                return moved  # another process is folding; readers add the deltas anyway
            batch = session.scalar(text(_PG_FOLD), {"batch": _FOLD_BATCH})
        else:
            batch = _fold_batch(session)
        session.commit()
        moved += batch
        if batch < _FOLD_BATCH:
            return moved


# What is deleted is what is added (DELETE ... RETURNING): a delta committed meanwhile stays for next time.
# Sorted: one lock order on the totals whatever else runs.
_PG_FOLD = """
WITH moved AS (
    DELETE FROM gw_count_deltas WHERE id IN (SELECT id FROM gw_count_deltas ORDER BY id LIMIT :batch)
    RETURNING facet, hour, direction, name, count
), added AS (
    INSERT INTO gw_counts (facet, hour, direction, name, count)
    SELECT facet, hour, direction, name, sum(count) FROM moved GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (facet, hour, direction, name) DO UPDATE SET count = gw_counts.count + excluded.count
    RETURNING 1
)
SELECT count(*) FROM moved
"""


def _fold_batch(session: Session) -> int:
    """The same on SQLite (one writer at a time), summed here."""
    cols = CountDelta.__table__.c
    batch = select(CountDelta.id).order_by(CountDelta.id).limit(_FOLD_BATCH).scalar_subquery()
    rows = session.execute(
        delete(CountDelta).where(CountDelta.id.in_(batch))
        .returning(cols.hour, cols.facet, cols.direction, cols.name, cols.count)
    ).all()
    _add_totals(session, _sum(rows))
    return len(rows)


def _rows(items: Iterable[tuple[Key, int]]) -> list[dict]:
    return [{"hour": h, "facet": f, "direction": d, "name": n, "count": c} for (h, f, d, n), c in items]


def _sum(rows: Iterable) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for hour, facet, direction, name, count in rows:
        out[(hour, facet, direction, name)] += count
    return out


def _add_totals(session: Session, sums: Counter[Key]) -> None:
    if not sums:
        return
    stmt = sqlite.insert(CountTotal)
    stmt = stmt.on_conflict_do_update(
        index_elements=["facet", "hour", "direction", "name"],
        set_={"count": CountTotal.__table__.c.count + stmt.excluded["count"]},
    )
    rows = _rows(sorted(sums.items()))
    for start in range(0, len(rows), 5000):
        session.execute(stmt, rows[start:start + 5000])


def summed(session: Session, facet: str, since_hour: int, *, by_hour: bool = False, top: int | None = None):
    """(name, count) pairs, or (hour, name, count) with `by_hour`, over totals and pending deltas."""
    parts = [
        select(t.hour, t.name, t.count).where(t.facet == facet, t.hour >= since_hour)
        for t in (CountTotal.__table__.c, CountDelta.__table__.c)
    ]
    both = union_all(*parts).subquery()
    keys = [both.c.hour, both.c.name] if by_hour else [both.c.name]
    total = func.sum(both.c.count)
    stmt = select(*keys, total).group_by(*keys)
    if top is not None:
        stmt = stmt.order_by(total.desc(), both.c.name).limit(top)
    return [tuple(row[:-1]) + (int(row[-1]),) for row in session.execute(stmt)]


def rebuild(connection) -> None:
    """Recount everything from gw_messages and gw_recipients (replaces totals and deltas)."""
    connection.execute(delete(CountDelta))
    connection.execute(delete(CountTotal))
    pg = connection.dialect.name == "postgresql"
    # SQLite: the hour cut from the text SQLAlchemy stores ("YYYY-MM-DD HH:MM:SS.ffffff"), because strftime
    # rounds to the millisecond and would put 10:59:59.9996 in the 11:00 hour.
    hour = ("floor(extract(epoch FROM m.received_at) / 3600)::int" if pg
            else "CAST(strftime('%s', substr(m.received_at, 1, 13) || ':00:00') AS INTEGER) / 3600")
    symbols = ("CROSS JOIN LATERAL json_array_elements_text(m.symbols) AS s(value)" if pg
               else "JOIN json_each(m.symbols) AS s")
    threats = ", ".join(f"'{a}'" for a in THREAT_ACTIONS)
    insert = "INSERT INTO gw_counts (facet, hour, direction, name, count) "
    for sql in (
        (f"SELECT '{ACTION}', {hour}, m.direction, coalesce(m.action, 'none'), count(*) "
         "FROM gw_messages m GROUP BY 2, 3, 4"),
        (f"SELECT '{SYMBOL}', {hour}, m.direction, s.value, count(DISTINCT m.queue_id) "
         f"FROM gw_messages m {symbols} GROUP BY 2, 3, 4"),
        (f"SELECT '{RECIPIENT}', {hour}, m.direction, r.address, count(*) FROM gw_recipients r "
         f"JOIN gw_messages m ON m.queue_id = r.queue_id WHERE m.action IN ({threats}) GROUP BY 2, 3, 4"),
    ):
        connection.execute(text(insert + sql))
    names: Counter[Key] = Counter()
    like = literal(f'%"{IMPERSONATION_PREFIX}%')
    stmt = select(Message.received_at, Message.direction, Message.findings, Message.from_header).where(
        cast(Message.symbols, Text).like(like)
    )
    for received_at, direction, findings, from_header in connection.execute(stmt):
        name = impersonated_name(findings, from_header)
        if name:
            names[(epoch_hour(received_at), IMPERSONATED, direction, name)] += 1
    if names:
        connection.execute(CountTotal.__table__.insert(), _rows(names.items()))


def impersonated_name(findings: list, from_header: str) -> str:
    """The name a finding says was impersonated, else the display name the message used."""
    for finding in findings or []:
        if str(finding.get("symbol", "")).startswith(IMPERSONATION_PREFIX):
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
