"""The chunked DATA reader answers and stores exactly what aiosmtpd's line-by-line reader does."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from kakuri.receive.smtp_data import FastDataSMTP
from tests.receive.conftest import free_port


class _Recorder:
    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.contents.append(envelope.original_content)
        return "250 2.0.0 kept"


class _Server(Controller):
    def __init__(self, cls, handler) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=free_port())
        self.cls = cls

    def factory(self):
        # As the gateway's _SMTP: the class attribute also sets the stream limit of the connection.
        cls = type("Limited", (self.cls,), {"line_length_limit": 64 * 1024})
        return cls(self.handler, data_size_limit=300_000, decode_data=False)


def _talk(port: int, data: bytes, after: bytes = b"NOOP\r\n") -> list[bytes]:
    """Send one transaction whose DATA is `data` (marker included) and `after` in the same write."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        replies = [stream.readline()]
        for command in (b"EHLO t\r\n", b"MAIL FROM:<a@x.example>\r\n", b"RCPT TO:<b@y.example>\r\n", b"DATA\r\n"):
            sock.sendall(command)
            reply = stream.readline()
            while reply[3:4] == b"-":
                reply = stream.readline()
            replies.append(reply)
        sock.sendall(data + after)  # pipelined: the command after the marker must stay a command
        replies += [stream.readline(), stream.readline()]
        sock.sendall(b"QUIT\r\n")
        return replies


LONG = b"".join(b"line %d " % i + b"x" * (i % 90) + b"\r\n" for i in range(6000))  # ~330 kB, > 64 KiB chunks
CASES = {
    "empty": b".\r\n",
    "one line": b"Subject: a\r\n.\r\n",
    "first line is stuffed dot": b"..hidden\r\nbody\r\n.\r\n",
    "empty first line": b"\r\n.\r\n",
    "empty lines then end": b"\r\n\r\n\r\n.\r\n",
    "dot lines inside": b"a\r\n..\r\n...x\r\n.y\r\nz\r\n.\r\n",
    "bare LF dot is text": b"Subject: one\r\n\r\nfirst\n.\nMAIL FROM:<ceo@x.example>\r\n.\r\n",
    "CR dot is text": b"a\r.\r\nb\r\n.\r\n",
    "no final CRLF before dot on same line": b"a.\r\n.\r\n",
    "large with dots at chunk edges": b"Subject: big\r\n\r\n" + LONG.replace(b"line 1", b"..line 1") + b".\r\n",
    "over the size limit": b"Subject: big\r\n\r\n" + LONG * 2 + b".\r\n",
    "over the line limit": b"Subject: x\r\n\r\n" + b"z" * 200_000 + b"\r\n.\r\n",
    "line just under the limit": b"Subject: x\r\n\r\n" + b"z" * (64 * 1024 - 2) + b"\r\n.\r\n",
    "line just over the limit": b"Subject: x\r\n\r\n" + b"z" * (64 * 1024 - 1) + b"\r\n.\r\n",
    "exactly the size limit": b"Subject: x\r\n\r\n" + (b"y" * 998 + b"\r\n") * 299 + b"y" * (300_000 - 299_000 - 16) + b"\r\n.\r\n",
}


@pytest.mark.parametrize("name", list(CASES))
def test_chunked_reader_matches_aiosmtpd(name):
    data = CASES[name]
    results = []
    for cls in (SMTP, FastDataSMTP):
        recorder = _Recorder()
        server = _Server(cls, recorder)
        server.start()
        try:
            results.append((_talk(server.port, data), recorder.contents))
        finally:
            server.stop()
    (theirs, their_content), (ours, our_content) = results
    assert ours == theirs
    assert our_content == their_content
    assert ours[-1].startswith(b"250")  # the pipelined NOOP after the marker was read as a command
