"""The whole gateway on PostgreSQL: the same code, chosen by URL."""

from __future__ import annotations

import pytest

from tests.builders import make_message
from tests.receive.conftest import message_state, sink, start_gateway, wait_until  # noqa: F401  (fixtures)
from tests.receive.test_smtp_handler import script_in_zip, send

pytestmark = pytest.mark.postgres


async def test_mail_flows_and_quarantines_with_postgresql(start_gateway, sink, postgres_url):  # noqa: F811
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}", store={"url": postgres_url})
    assert gateway.stores.engine.dialect.name == "postgresql"
    good = await send(gateway, make_message(subject="hello from pg"))
    bad = await send(gateway, script_in_zip())
    await wait_until(lambda: (m := message_state(gateway, good)) and m.state == "delivered")
    await wait_until(lambda: (m := message_state(gateway, bad)) and m.state == "quarantined")
    await gateway.release(queue_id=bad, actor="cli:test", reason="pg release")
    await wait_until(lambda: len(sink.received) == 2)
    assert message_state(gateway, bad).state == "released"
