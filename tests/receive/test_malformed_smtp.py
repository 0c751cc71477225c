"""Hostile or broken SMTP input gets a correct reply and leaves the server healthy."""

from __future__ import annotations

import asyncio

import aiosmtplib

from tests.builders import make_message
from tests.receive.conftest import wait_until


class RawClient:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, gateway):
        reader, writer = await asyncio.open_connection(*gateway.address)
        client = cls(reader, writer)
        assert (await client.reply()).startswith("220")
        return client

    async def reply(self) -> str:
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 10)).decode()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return "".join(lines)

    async def send(self, data: bytes) -> str:
        self.writer.write(data)
        await self.writer.drain()
        return await self.reply()

    def close(self):
        self.writer.close()


async def healthy(gateway, sink) -> None:
    before = len(sink.received)
    await aiosmtplib.send(
        make_message(),
        sender="a@partner.example",
        recipients=["b@tokai-keiki.example"],
        hostname=gateway.address[0],
        port=gateway.address[1],
    )
    await wait_until(lambda: len(sink.received) > before)


async def test_unknown_commands_get_500_and_session_continues(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    client = await RawClient.open(gateway)
    assert (await client.send(b"EHLO test\r\n")).startswith("250")
    assert (await client.send(b"XYZZY please\r\n")).startswith("500")
    assert (await client.send(b"NOOP\r\n")).startswith("250")
    client.close()
    await healthy(gateway, sink)


async def test_data_without_mail_or_rcpt_is_refused_with_503(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    client = await RawClient.open(gateway)
    await client.send(b"EHLO test\r\n")
    assert (await client.send(b"DATA\r\n")).startswith("503")
    assert (await client.send(b"MAIL FROM:<a@partner.example>\r\n")).startswith("250")
    assert (await client.send(b"DATA\r\n")).startswith("503")  # no recipient yet
    assert (await client.send(b"QUIT\r\n")).startswith("221")
    client.close()
    await healthy(gateway, sink)


async def test_quit_without_data_leaves_nothing_in_the_spool(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    client = await RawClient.open(gateway)
    await client.send(b"EHLO test\r\n")
    await client.send(b"MAIL FROM:<a@partner.example>\r\n")
    await client.send(b"RCPT TO:<b@tokai-keiki.example>\r\n")
    client.close()  # connection dropped mid-transaction
    await asyncio.sleep(0.2)
    assert gateway.spool.queue_ids() == []
    await healthy(gateway, sink)


async def test_huge_command_line_is_refused(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    client = await RawClient.open(gateway)
    await client.send(b"EHLO test\r\n")
    assert (await client.send(b"MAIL FROM:<" + b"a" * 100_000 + b"@x.example>\r\n"))[:3] in ("500", "552")
    client.close()
    await healthy(gateway, sink)


async def test_huge_data_line_gets_500_and_nothing_is_queued(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    client = await RawClient.open(gateway)
    await client.send(b"EHLO test\r\n")
    await client.send(b"MAIL FROM:<a@partner.example>\r\n")
    await client.send(b"RCPT TO:<b@tokai-keiki.example>\r\n")
    assert (await client.send(b"DATA\r\n")).startswith("354")
    assert (await client.send(b"Subject: x\r\n\r\n" + b"z" * 200_000 + b"\r\n.\r\n")).startswith("500")
    assert (await client.send(b"RSET\r\n")).startswith("250")
    client.close()
    assert gateway.spool.queue_ids() == []
    await healthy(gateway, sink)


async def test_bare_lf_dot_does_not_end_data(start_gateway, sink):
    # SMTP smuggling: "\n.\n" must not end the message, so no second message can hide behind it.
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    client = await RawClient.open(gateway)
    await client.send(b"EHLO test\r\n")
    await client.send(b"MAIL FROM:<a@partner.example>\r\n")
    await client.send(b"RCPT TO:<b@tokai-keiki.example>\r\n")
    await client.send(b"DATA\r\n")
    smuggled = b"MAIL FROM:<ceo@tokai-keiki.example>\r\nRCPT TO:<b@tokai-keiki.example>\r\nDATA\r\nSubject: fake\r\n"
    body = b"Subject: one\r\n\r\nfirst line\n.\n" + smuggled + b"\r\n.\r\n"
    assert (await client.send(body)).startswith("250")
    client.close()
    await wait_until(lambda: sink.received)
    await asyncio.sleep(0.3)
    assert len(sink.received) == 1
    assert b"ceo@tokai-keiki.example" in sink.received[0].data  # kept as body text, not a command


async def test_pipelined_commands_in_one_write_are_answered_in_order(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    client = await RawClient.open(gateway)
    await client.send(b"EHLO test\r\n")
    client.writer.write(
        b"MAIL FROM:<a@partner.example>\r\nRCPT TO:<b@tokai-keiki.example>\r\nRCPT TO:<bad address>\r\nDATA\r\n"
    )
    replies = [await client.reply() for _ in range(4)]
    assert [r[:3] for r in replies] == ["250", "250", "553", "354"]
    assert (await client.send(b"Subject: piped\r\n\r\nbody\r\n.\r\n")).startswith("250")
    client.close()
    await wait_until(lambda: sink.received)


async def test_command_flood_ends_the_session_but_not_the_server(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    client = await RawClient.open(gateway)
    client.writer.write(b"NOOP\r\n" * 1100)
    await client.writer.drain()
    replies = [await client.reply() for _ in range(1001)]
    assert replies[-1].startswith("421")
    client.close()
    await healthy(gateway, sink)
