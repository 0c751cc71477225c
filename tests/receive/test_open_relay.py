"""Before [org] our_domains is configured the gateway is no open relay: only trusted clients (loopback by
default, as `make run` uses) may send, and an outside client (here forwarded by XFORWARD from a trusted
test client, as Postfix would) is refused at RCPT."""

from __future__ import annotations

import asyncio
import smtplib

from tests.builders import make_message
from tests.receive.conftest import wait_until


def _rcpt(port: int, xforward: str | None, rcpt: str) -> int:
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo("postfix.local")
        if xforward:
            assert client.docmd("XFORWARD", xforward)[0] == 250
        client.mail("someone@outside.example")
        return client.rcpt(rcpt)[0]


async def test_outside_client_cannot_relay_before_domains_are_set(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    port = gateway.address[1]
    for rcpt in ("victim@anywhere.example", "postmaster@tokai-keiki.example"):
        assert await asyncio.to_thread(_rcpt, port, "ADDR=203.0.113.5 NAME=mx.attacker.test", rcpt) == 554


async def test_loopback_client_still_sends_before_setup(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")

    def send():
        with smtplib.SMTP("127.0.0.1", gateway.address[1]) as client:
            return client.sendmail("alice@example.com", ["bob@example.org"], make_message(to="bob@example.org"))

    assert await asyncio.to_thread(send) == {}
    await wait_until(lambda: sink.received)


async def test_outside_client_reaches_our_domains_only_once_set(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}", org={"our_domains": ["tokai-keiki.example"]})
    port = gateway.address[1]
    outside = "ADDR=203.0.113.5 NAME=mx.attacker.test"
    assert await asyncio.to_thread(_rcpt, port, outside, "hanako@tokai-keiki.example") == 250
    assert await asyncio.to_thread(_rcpt, port, outside, "victim@anywhere.example") == 554


async def test_domains_set_by_a_reload_reach_the_running_relay_check(start_gateway, sink):
    from kakuri.receive.reload import ConfigReloader, relay_rules_listener

    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    port, outside = gateway.address[1], "ADDR=203.0.113.5 NAME=mx.partner.test"
    assert await asyncio.to_thread(_rcpt, port, outside, "hanako@tokai-keiki.example") == 554
    home = gateway.settings.home
    (home / "kakuri.toml").write_text('[org]\nour_domains = ["tokai-keiki.example"]\n', encoding="utf-8")
    reloader = ConfigReloader(gateway.settings)
    reloader.on_reload(relay_rules_listener(gateway))
    assert reloader.reload().generation == 2
    assert await asyncio.to_thread(_rcpt, port, outside, "hanako@tokai-keiki.example") == 250
    assert await asyncio.to_thread(_rcpt, port, outside, "victim@anywhere.example") == 554
