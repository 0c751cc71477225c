"""The relay's client and the listener's address parsing: the fast paths answer exactly as the libraries do."""

from __future__ import annotations

import random

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from kakuri.receive.server import _SMTP
from kakuri.receive.smtp_client import RelayClient, _path, encode_data
from tests.receive.conftest import RecordingSink, free_port


def test_data_encoding_is_aiosmtplibs_for_any_mix_of_line_ends_and_dots():
    rnd = random.Random(13)
    for _ in range(20_000):
        message = bytes(rnd.choice(b"\r\n.a") for _ in range(rnd.randint(0, 16)))
        expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
        assert encode_data(message) == expected, message


def test_plain_addresses_are_sent_as_aiosmtplib_quotes_them_and_the_rest_goes_to_aiosmtplib():
    for address in ["", "a@b", "first.last+tag@mail-1.example.org", "x!#$%&'*=?^_`{|}~-@y"]:
        assert _path(address) == quote_address(address).encode()
    for address in ['"quoted x"@y', "ü@example.jp", "a..b@c", "a@b.", "noat"]:
        assert _path(address) is None


def test_getaddr_fast_path_matches_aiosmtpds_parser():
    reference, ours = SMTP.__new__(SMTP), _SMTP.__new__(_SMTP)
    rnd = random.Random(7)
    for limit in (0, 5):
        reference.local_part_limit = ours.local_part_limit = limit
        for _ in range(3_000):
            local = "".join(rnd.choice("ab.+-_=~9\"") for _ in range(rnd.randint(0, 8)))
            domain = "".join(rnd.choice("ab.-9[]") for _ in range(rnd.randint(0, 8)))
            tail = "".join(rnd.choice(" \tX=(c)") for _ in range(rnd.randint(0, 5)))
            arg = rnd.choice(["", " ", "\t"]) + rnd.choice(["<", ""]) + local + "@" + domain + ">" + tail
            assert _answer(ours, arg) == _answer(reference, arg), arg


def _answer(server, arg):
    try:
        return server._getaddr(arg)
    except Exception as exc:  # the email package's parser trips over some malformed input itself
        return type(exc)


async def test_relay_client_delivers_dots_bare_line_ends_and_the_null_sender():
    port = free_port()
    sink = RecordingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    raw = b"Subject: x\r\n\r\n.leading dot\nbare lf\rbare cr\r\n..two\r\nend"
    try:
        client = RelayClient(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
        await client.connect()
        await client.mail("")
        await client.rcpt("b@y.example")
        await client.data(raw)
        await client.quit()
        reference = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
        await reference.connect()
        await reference.sendmail("", ["b@y.example"], raw)
        await reference.quit()
    finally:
        controller.stop()
    ours, theirs = sink.received
    assert (ours.mail_from, ours.rcpt_tos) == (theirs.mail_from, theirs.rcpt_tos)
    assert ours.data == theirs.data and b"\r\n.leading dot\r\nbare lf\r\nbare cr\r\n..two\r\nend" in ours.data
