"""Dashboard counts on SQLite (the embedded default): what the writers append equals a rebuild from the records,
before and after folding; PostgreSQL at volume is in tests/web/test_scale_postgres.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from kakuri.store import counts
from kakuri.store.config import open_stores
from tests.web.factories import store_message

FACETS = (counts.ACTION, counts.SYMBOL, counts.RECIPIENT, counts.IMPERSONATED)


def _all(db) -> dict[str, set]:
    return {facet: set(counts.summed(db, facet, 0, by_hour=True)) for facet in FACETS}


def test_appended_counts_equal_a_rebuild_from_the_records(settings):
    stores = open_stores(settings)
    now = datetime(2026, 12, 8, 10, 59, 59, 999999, tzinfo=UTC)
    for i, (action, symbols) in enumerate([
        ("deliver", ()), ("quarantine", ("IMPERSONATION_STAFF_NAME", "URL_LURE")), ("reject", ("FILE_SCRIPT",)),
        ("hold", ("URL_LURE",)), ("tag", ("URL_SHORTENER",)),
    ] * 2):
        store_message(stores, action=action, symbols=symbols, received_at=now + timedelta(minutes=i * 20),
                      rcpts=("hanako@tokai-keiki.example", f"s{i % 2}@tokai-keiki.example"),
                      from_header=f"Sato Hanako <x{i}@evil.example>", findings=[])
    with stores.sessions() as db:
        appended = _all(db)
        assert (counts.epoch_hour(now), "deliver", 1) in appended[counts.ACTION]  # 10:59:59.999999
        assert (counts.epoch_hour(now) + 1, "quarantine", 1) in appended[counts.ACTION]
        assert (counts.epoch_hour(now) + 1, "URL_LURE", 2) in appended[counts.SYMBOL]  # 11:19 and 11:59
        assert {n for _, n, _ in appended[counts.IMPERSONATED]} == {"Sato Hanako"}
        assert counts.fold(db) > 0
        assert db.scalar(select(func.count()).select_from(counts.CountDelta)) == 0
        assert _all(db) == appended
    with stores.engine.begin() as connection:
        counts.rebuild(connection)
    with stores.sessions() as db:
        assert _all(db) == appended
        top = counts.summed(db, counts.RECIPIENT, 0, top=1)
        assert top == [("hanako@tokai-keiki.example", 6)]  # quarantine, reject, hold twice each
    stores.close()
