"""The console at volume on PostgreSQL: 20,000 messages loaded by `kakuri bench console`'s COPY loader, then
the dashboard counts against the records (after inserts, releases and deletes), fragment search, keyset
paging that returns every row once, and the trigram indexes in the search plans."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from kakuri.cli.bench_console import load
from kakuri.settings import load_settings
from kakuri.store import counts
from kakuri.store import quarantine as quarantine_store
from kakuri.store import trace as trace_store
from kakuri.store.config import open_stores
from kakuri.store.messages import Message, Recipient
from kakuri.web import queries
from kakuri.web.app import create_app
from tests.store.conftest import postgres_server  # noqa: F401  (fixture)
from tests.web.factories import add_users, store_message

pytestmark = pytest.mark.postgres
COUNT = 20_000
TIED = datetime(2026, 1, 5, 3, 0, 0, 123456, tzinfo=UTC)  # several messages received in the same microsecond


@pytest.fixture(scope="module")
def loaded(postgres_server, tmp_path_factory):  # noqa: F811
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    home = tmp_path_factory.mktemp("scale") / "kakuri-data"
    home.mkdir()
    (home / "kakuri.toml").write_text(f'[store]\nurl = "{postgres_server}/{name}"\n', encoding="utf-8")
    load(f"{postgres_server}/{name}", home, COUNT, days=30, seed=5)
    settings = load_settings(home)
    stores = open_stores(settings)
    tokens = add_users(stores)
    for i in range(7):
        store_message(stores, received_at=TIED, queue_id=f"TIE{i}", subject=f"同時刻 {i}")
    yield settings, stores, tokens
    stores.close()


def _recount(db) -> dict[str, Counter]:
    """The counts, straight from the records (every message, every hour)."""
    out = {facet: Counter() for facet in (counts.ACTION, counts.SYMBOL, counts.RECIPIENT, counts.IMPERSONATED)}
    rcpts: dict[str, list[str]] = {}
    for qid, address in db.execute(select(Recipient.queue_id, Recipient.address)):
        rcpts.setdefault(qid, []).append(address)
    rows = db.execute(select(Message.queue_id, Message.received_at, Message.action, Message.symbols,
                             Message.findings, Message.from_header))
    for qid, at, action, symbols, findings, from_header in rows:
        hour = int(at.timestamp()) // 3600
        out[counts.ACTION][(hour, action or "none")] += 1
        for symbol in set(symbols):
            out[counts.SYMBOL][(hour, symbol)] += 1
        if action in ("quarantine", "reject", "hold"):
            for address in rcpts.get(qid, []):
                out[counts.RECIPIENT][(hour, address)] += 1
        if any(s.startswith("IMPERSONATION_") for s in symbols):
            name = counts.impersonated_name(findings, from_header)
            if name:
                out[counts.IMPERSONATED][(hour, name)] += 1
    return out


def _kept(db) -> Counter:
    return {facet: Counter({(h, n): c for h, n, c in counts.summed(db, facet, 0, by_hour=True)})
            for facet in (counts.ACTION, counts.SYMBOL, counts.RECIPIENT, counts.IMPERSONATED)}


def test_counts_agree_with_the_records_after_inserts_releases_and_deletes(loaded):
    settings, stores, tokens = loaded
    now = datetime.now(UTC)
    for i, (action, symbols) in enumerate([
        ("deliver", ()), ("tag", ("URL_SHORTENER",)), ("quarantine", ("IMPERSONATION_STAFF_NAME", "LURE_MODEL")),
        ("reject", ("FILE_SCRIPT",)), ("hold", ("URL_FEED_MATCH", "URL_FEED_MATCH")),
        ("quarantine", ("MACRO_AUTOEXEC",)),
    ] * 3):
        store_message(stores, action=action, symbols=symbols, received_at=now - timedelta(hours=i),
                      rcpts=("hanako@tokai-keiki.example", f"staff{i}@tokai-keiki.example"),
                      direction="outbound" if i % 5 == 0 else "inbound",
                      from_header=f"Sato Hanako {i} <x{i}@evil.example>")
    with stores.sessions() as db:
        kept = list(db.scalars(select(Message.queue_id).where(Message.state == "quarantined",
                                                              Message.blob_sha256.is_not(None)).limit(6)))
        for qid in kept[:3]:
            quarantine_store.release(db, queue_id=qid, actor="test", reason="checked")
        for qid in kept[3:]:
            quarantine_store.delete(db, queue_id=qid, actor="test", reason="junk")
    with stores.sessions() as db:
        assert db.scalar(select(text("count(*)")).select_from(counts.CountDelta)) > 0  # not folded yet
        expected = _recount(db)
        assert _kept(db) == expected
        assert counts.fold(db) > 0
        assert db.scalar(select(text("count(*)")).select_from(counts.CountDelta)) == 0
        assert _kept(db) == expected
    headers = {"Authorization": f"Bearer {tokens['viewer']}"}
    data = TestClient(create_app(settings, stores=stores)).get("/api/v1/dashboard", params={"hours": 336},
                                                               headers=headers).json()
    start = counts.epoch_hour(datetime.fromisoformat(data["since"]))
    assert sum(sum(b["counts"].values()) for b in data["per_hour"]) == sum(
        c for (h, _), c in expected[counts.ACTION].items() if h >= start)
    top = {c["key"]: c["count"] for c in data["recipients"]}
    assert top["hanako@tokai-keiki.example"] >= 12  # the threats stored above, plus any loaded


def test_folding_while_messages_are_recorded_loses_no_count(loaded):
    _, stores, _ = loaded
    done = threading.Event()

    def fold_repeatedly():
        while not done.is_set():
            with stores.sessions() as db:
                counts.fold(db)

    folders = [threading.Thread(target=fold_repeatedly) for _ in range(2)]  # two nodes' consoles
    for folder in folders:
        folder.start()
    try:
        for i in range(60):
            store_message(stores, action=("quarantine", "deliver", "reject")[i % 3], symbols=("URL_LURE",),
                          received_at=datetime.now(UTC), rcpts=(f"r{i % 4}@tokai-keiki.example",))
    finally:
        done.set()
        for folder in folders:
            folder.join()
    with stores.sessions() as db:
        counts.fold(db)
        assert _kept(db) == _recount(db)


def _subjects(db) -> list[tuple[datetime, str, str, str]]:
    return list(db.execute(select(Message.received_at, Message.queue_id, Message.subject, Message.mail_from)))


def _newest_first(rows) -> list[str]:
    return [qid for _, qid, *_ in sorted(rows, reverse=True)]


def test_fragment_search_finds_every_match_through_the_trigram_indexes(loaded):
    _, stores, _ = loaded
    with stores.sessions() as db:
        everything = _subjects(db)
        order_subject = next(s for _, _, s, _ in everything if "注文番号: " in s)
        number = order_subject.split("注文番号: ")[1][:6]
        senders = Counter(r[3] for r in everything)
        sender = next(s for s, n in sorted(senders.items()) if n == 2 and "." in s.partition("@")[0])  # a rare one
        local, _, domain = sender.partition("@")
        fragment = f"{local[-4:]}@{domain[:6]}".upper()  # case must not matter
        for criteria, wanted in [
            ({"subject": number}, [r for r in everything if number in r[2]]),
            ({"subject": "請求書"}, [r for r in everything if "請求書" in r[2]]),
            ({"sender": fragment}, [r for r in everything if fragment.lower() in r[3].lower()]),
        ]:
            found = trace_store.search(db, limit=100_000, **criteria)
            assert [m.queue_id for m in found] == _newest_first(wanted), criteria
            assert found
        for criteria, index in [({"subject": number}, "ix_gw_messages_subject_trgm"),
                                ({"sender": fragment}, "ix_gw_messages_mail_from_trgm")]:
            compiled = trace_store.query(**criteria).compile(dialect=db.get_bind().dialect)
            plan = "\n".join(row[0] for row in db.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
            assert index in plan, plan
        # The console's quarantine search (ILIKE on envelope sender or From header) finds the same way.
        flt = queries.MessageFilter(states=("quarantined",), sender=fragment)
        rows, _ = queries.search_messages(db, flt, limit=10_000)
        assert all(fragment.lower() in (m.mail_from + m.from_header).lower() for m in rows)


def test_keyset_pages_return_every_row_once_in_order(loaded):
    settings, stores, tokens = loaded
    client = TestClient(create_app(settings, stores=stores))
    headers = {"Authorization": f"Bearer {tokens['viewer']}"}
    with stores.sessions() as db:
        quarantined = list(db.scalars(select(Message.queue_id).where(Message.state == "quarantined")
                                      .order_by(Message.received_at.desc(), Message.queue_id.desc())))
        invoices = _newest_first([r for r in _subjects(db) if "請求書" in r[2]])
    assert {f"TIE{i}" for i in range(7)} <= set(quarantined)
    for path, params, expected in [
        ("/api/v1/quarantine", {"limit": 97}, quarantined),
        ("/api/v1/trace", {"subject": "請求書", "limit": 333}, invoices),
    ]:
        seen, cursor, pages = [], None, 0
        while True:
            page = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
            assert page.status_code == 200, page.text
            body = page.json()
            seen += [item["queue_id"] for item in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert pages > 3
        assert seen == expected
