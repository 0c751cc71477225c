"""Held mail (emergency policies) and the thread ledger learning from delivered mail only."""

from __future__ import annotations

import asyncio

from kakuri.store.knowledge import load_knowledge
from kakuri.store.messages import MessageState, RecipientStatus
from tests.builders import make_message
from tests.receive.conftest import message_state, wait_until
from tests.receive.test_smtp_handler import script_in_zip, send


async def test_hold_verdict_keeps_the_message_until_released(start_gateway, sink, tmp_path):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "policy.toml").write_text(
        '[[overrides]]\nname = "hold-outbound"\nwhen = "*"\naction = "hold"\ndirections = ["outbound"]\n'
    )
    gateway = await start_gateway(
        next_hop=f"127.0.0.1:{sink.port}",
        home=home,
        org={"our_domains": ["tokai-keiki.example"], "internal_networks": ["127.0.0.0/8"]},
    )
    queue_id = await send(gateway, make_message(), mail_from="pc12@tokai-keiki.example", rcpts=["x@partner.example"])
    record = await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "held" and m)
    assert record.direction == "outbound" and record.recipients[0].status == RecipientStatus.HELD
    await asyncio.sleep(0.3)
    assert sink.received == []
    await gateway.release(queue_id=queue_id, actor="cli:soc", reason="PC cleaned")
    await wait_until(lambda: sink.received)
    assert message_state(gateway, queue_id).state == MessageState.RELEASED


async def test_ledger_learns_delivered_mail_but_not_quarantined_mail(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    await send(gateway, make_message(message_id="<thread-start@partner.example>"))
    bad = script_in_zip().replace(b"Message-ID: <", b"Message-ID: <evil-", 1)
    bad_id = await send(gateway, bad)
    await wait_until(lambda: sink.received)
    await wait_until(lambda: (m := message_state(gateway, bad_id)) and m.state == "quarantined")
    await asyncio.sleep(1.5)  # the worker writes the ledger in batches, at the latest after a second
    knowledge = load_knowledge(gateway.settings, engine=gateway.stores.engine)
    assert knowledge.has_message("<thread-start@partner.example>") or knowledge.has_message(
        "thread-start@partner.example"
    )
    evil_id = message_state(gateway, bad_id).message_id
    assert not (knowledge.has_message(evil_id) or knowledge.has_message(f"<{evil_id}>"))
