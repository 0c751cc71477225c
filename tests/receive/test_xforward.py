"""XFORWARD (Postfix content-filter mode): the original client, HELO and login reach the verdict."""

from __future__ import annotations

import asyncio
import smtplib

from kakuri.store.messages import Message
from tests.builders import make_message
from tests.receive.conftest import wait_until

OURS = {"org": {"our_domains": ["tokai-keiki.example"], "internal_networks": ["127.0.0.0/8", "10.0.0.0/8"]}}


def _send(port: int, xforward: str | None, mail_from: str, rcpt: str) -> tuple[int, bytes] | None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo("postfix.local")
        assert client.has_extn("xforward")
        reply = client.docmd("XFORWARD", xforward) if xforward else None
        client.sendmail(mail_from, [rcpt], make_message(from_=f"Taro <{mail_from}>", to=rcpt))
        return reply


def _latest(gateway) -> Message:
    with gateway.stores.sessions() as session:
        return session.query(Message).order_by(Message.received_at.desc()).first()


async def test_forwarded_outside_client_makes_our_domain_sender_inbound(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}", **OURS)
    port = gateway.address[1]
    reply = await asyncio.to_thread(
        _send, port, "NAME=mx.attacker.test ADDR=203.0.113.5 HELO=evil.test PROTO=ESMTP", "taro@tokai-keiki.example", "hanako@tokai-keiki.example"
    )
    assert reply[0] == 250
    row = await wait_until(lambda: _latest(gateway))
    assert (row.client_ip, row.helo, row.direction) == ("203.0.113.5", "evil.test", "inbound")
    assert "AUTH_OUR_DOMAIN_FROM_OUTSIDE" in row.symbols


async def test_forwarded_internal_client_and_login_make_it_ours(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}", **OURS)
    await asyncio.to_thread(
        _send, gateway.address[1], "ADDR=10.20.1.5 LOGIN=taro HELO=DESKTOP-1", "taro@tokai-keiki.example", "kondo@partner.example"
    )
    row = await wait_until(lambda: _latest(gateway))
    assert (row.client_ip, row.auth_user, row.direction) == ("10.20.1.5", "taro", "outbound")


async def test_xforward_is_refused_from_untrusted_clients(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}", org={"internal_networks": ["10.0.0.0/8"]})

    def probe():
        with smtplib.SMTP("127.0.0.1", gateway.address[1]) as client:
            client.ehlo("x")
            return client.has_extn("xforward"), client.docmd("XFORWARD", "ADDR=10.1.1.1")[0]

    advertised, code = await asyncio.to_thread(probe)
    assert not advertised and code == 550
