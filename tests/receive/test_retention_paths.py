"""Mail that reaches mailboxes by the other roads is retained too: released from quarantine, and accepted
by the milter (Postfix delivers it), so the retro-scan and clawback can reach it."""

from __future__ import annotations

import asyncio

from kakuri.receive.direction import DirectionRules
from kakuri.receive.milter.server import MilterConfig, MilterServer
from kakuri.receive.scanning import ScanPool
from kakuri.store.config import open_stores
from kakuri.store.retention import MessageFeatures, RetainedMessage, Retention, RetentionConfig
from tests.builders import make_message
from tests.receive.conftest import gateway_settings, message_state, wait_until
from tests.receive.test_milter import converse
from tests.receive.test_smtp_handler import script_in_zip, send


def _retained(stores, queue_id):
    with stores.sessions() as session:
        row, features = session.get(RetainedMessage, queue_id), session.get(MessageFeatures, queue_id)
        return (row.blob_key if row else None), (features.items if features else None)


async def test_released_mail_is_retained_once_delivered(start_gateway):
    gateway = await start_gateway(org={"our_domains": ["corp.example"]})
    raw = script_in_zip()
    queue_id = await send(gateway, raw, rcpts=("hanako@corp.example",))
    await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "quarantined")
    assert _retained(gateway.stores, queue_id) == (None, None)  # kept by us: in nobody's mailbox
    await gateway.release(queue_id=queue_id, actor="cli:test", reason="the customer's tool")
    await wait_until(lambda: message_state(gateway, queue_id).state == "released")
    key, items = await wait_until(lambda: _retained(gateway.stores, queue_id)[0] and _retained(gateway.stores, queue_id))
    assert gateway.queue.retention.blobs.get(key) == raw and items is None  # the first retro-scan parses it


async def test_mail_accepted_by_the_milter_is_retained_with_its_features(tmp_path):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    settings = gateway_settings(home, next_hop="maildir")
    stores = await asyncio.to_thread(open_stores, settings)
    scans = await asyncio.to_thread(ScanPool, settings, workers=1, mode="thread")
    server = MilterServer(stores=stores, scans=scans, rules=DirectionRules(our_domains=["example.org"], internal_networks=[]),
                          config=MilterConfig(listen="127.0.0.1:0"), max_message_bytes=300_000, subject_tag="[S]")
    server.retention = Retention(RetentionConfig(), home)
    await server.start()
    try:
        raw = make_message(subject="Minutes", body="notes at https://wiki.partner.example/m/7\n",
                           message_id="<minutes@partner.example>")
        await converse(server, raw)
        [queue_id] = [m.queue_id for m in _all(stores)]
        key, items = _retained(stores, queue_id)
        assert server.retention.blobs.get(key) == raw
        assert "domain:wiki.partner.example" in items
        await converse(server, script_in_zip())  # quarantined: discarded to Postfix, not retained
        assert len(_all(stores)) == 2
        with stores.sessions() as session:
            assert session.query(RetainedMessage).count() == 1
    finally:
        await server.stop()
        scans.close()
        stores.close()


def _all(stores):
    from kakuri.store.messages import Message

    with stores.sessions() as session:
        return list(session.query(Message).all())
