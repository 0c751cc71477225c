"""Rows added in the gateway's group commit, inserted together: one multi-row INSERT per table per transaction.

Each message's records are a handful of rows in five tables (message, recipients, audit, counts, retained
copy). Executed job by job that is five statements per message, and SQLAlchemy's fixed cost per statement
was most of the record writer's CPU. The group commit (`receive/dbwriter.py`) marks its session with
`defer_inserts`; `insert_rows` then only collects rows, and `flush_inserts` sends each table's rows in one
`executemany` just before the commit (tables in the order first used, so a message row precedes the rows
that refer to it). Outside such a session `insert_rows` executes at once, as before.

Jobs of one transaction must not read rows another job of it inserted: none does, since a message has at
most one job in flight (its runner awaits each write).
"""

from __future__ import annotations

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

_KEY = "kakuri.deferred_inserts"
CHUNK = 500  # rows per statement


def defer_inserts(session: Session) -> None:
    session.info[_KEY] = {}


def insert_rows(session: Session, table: Table, rows: list[dict], *, ignore_conflicts: bool = False) -> None:
    """INSERT `rows` into `table` in this transaction; `ignore_conflicts` leaves an existing key alone."""
    if not rows:
        return
    pending = session.info.get(_KEY)
    if pending is None:
        _execute(session, table, rows, ignore_conflicts)
    else:
        pending.setdefault((table, ignore_conflicts), []).extend(rows)


def flush_inserts(session: Session) -> None:
    pending = session.info.get(_KEY) or {}
    for (table, ignore_conflicts), rows in pending.items():
        _execute(session, table, rows, ignore_conflicts)
    pending.clear()


def _execute(session: Session, table: Table, rows: list[dict], ignore_conflicts: bool) -> None:
    if ignore_conflicts:
        if session.bind.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        statement = dialect_insert(table).on_conflict_do_nothing()
    else:
        statement = insert(table)
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, rows[start:start + CHUNK])
