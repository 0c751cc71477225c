"""The SMTP relay: kept connections are reused, and one the next hop closed is never a false deferral."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from kakuri.receive.relay import SmtpRelay
from tests.builders import make_message
from tests.receive.conftest import RecordingSink, free_port


class PeerSink(RecordingSink):
    async def handle_DATA(self, server, session, envelope):
        self.peers = getattr(self, "peers", set()) | {session.peer}
        return await super().handle_DATA(server, session, envelope)


# trust 0: every kept connection is checked with NOOP; trust 60: used at once, MAIL fails and we start over
@pytest.mark.parametrize("trust_seconds", [0.0, 60.0])
async def test_connections_are_reused_and_replaced_when_the_next_hop_closed_them(trust_seconds):
    port = free_port()
    sink = PeerSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    relay = SmtpRelay("127.0.0.1", port, timeout_seconds=10)
    relay.trust_seconds = trust_seconds
    try:
        for _ in range(3):
            replies = await relay.deliver(mail_from="a@x.example", rcpt_tos=["b@y.example"], data=make_message())
            assert replies["b@y.example"].is_success
        assert len(sink.received) == 3 and len(sink.peers) == 1
        controller.stop()  # the next hop restarts: our kept connection is dead
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        replies = await relay.deliver(mail_from="a@x.example", rcpt_tos=["b@y.example"], data=make_message())
        assert replies["b@y.example"].is_success and len(sink.received) == 4
    finally:
        await relay.close()
        controller.stop()


async def test_refused_recipient_and_unreachable_host_get_their_own_replies():
    sink = RecordingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    relay = SmtpRelay("127.0.0.1", controller.port, timeout_seconds=10)
    try:
        replies = await relay.deliver(
            mail_from="a@x.example", rcpt_tos=["perm.x@y.example", "ok@y.example"], data=make_message()
        )
        assert replies["perm.x@y.example"].code == 550 and replies["ok@y.example"].code == 250
    finally:
        await relay.close()
        controller.stop()
    down = SmtpRelay("127.0.0.1", free_port(), timeout_seconds=5)
    reply = (await down.deliver(mail_from="a@x.example", rcpt_tos=["b@y.example"], data=b"x"))["b@y.example"]
    assert reply.code == 0 and not reply.is_permanent


async def test_long_lines_reach_a_strict_next_hop():
    sink = RecordingSink()  # aiosmtpd refuses DATA lines over 1000 octets, as strict MTAs do
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    relay = SmtpRelay("127.0.0.1", controller.port, timeout_seconds=10)
    body = "one very long paragraph " * 200
    data = (f"From: a@x.example\r\nTo: b@y.example\r\nSubject: long\r\nX-Long: {'v ' * 800}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()
    try:
        replies = await relay.deliver(mail_from="a@x.example", rcpt_tos=["b@y.example"], data=data)
        assert replies["b@y.example"].is_success
        [got] = sink.received
        assert got.message.get_payload(decode=True).decode().strip() == body.strip()
    finally:
        await relay.close()
        controller.stop()
