"""From headers that show a name and hide the address."""

from __future__ import annotations

import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.sender_header import SenderHeader
from kakuri.model import Direction, Envelope
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from tests.builders import make_message


def raw_with_from(from_value: str, body: str = "Hello") -> bytes:
    head = f"From: {from_value}\r\nTo: hanako@tokai-keiki.example\r\nSubject: Notice\r\n"
    return (head + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n").encode()


def check(raw: bytes, direction: Direction = Direction.INBOUND) -> list:
    return list(SenderHeader().check(parse_message(raw), ScanContext(envelope=Envelope(direction=direction))))


@pytest.mark.parametrize("from_value, mailbox", [
    ("Microsoft account team ,_<x7@random-host.test>", "Microsoft"),
    ("PayPal <paypal>", "paypal"),
    ("Herzlichen Glueckwunsch!", "Herzlichen"),
])
def test_from_mailbox_without_domain(from_value, mailbox):
    [finding] = check(raw_with_from(from_value))
    assert finding.symbol == "FROM_ADDRESS_WITHOUT_DOMAIN"
    assert finding.evidence["mailbox"] == mailbox


@pytest.mark.parametrize("from_value", [
    '"Doe, John" <john@partner.test>',  # a quoted comma is part of the name
    "=?utf-8?b?5bGx55Sw?= <yamada@partner.test>",
    "John Doe <john@partner.test>, Jane <jane@partner.test>",
    "Doe, John <john.doe@partner.test>",  # unquoted by a sloppy mailer: the surname is in the address
    "Acme Tools, Inc. <news@mailer.test>",  # unquoted company suffix
])
def test_well_formed_from_passes(from_value):
    assert check(raw_with_from(from_value)) == []


def test_our_own_cron_mail_is_not_judged():
    assert check(raw_with_from("root"), Direction.INTERNAL) == []


def test_hidden_address_with_a_brand_and_a_cloud_page_is_quarantined(settings):
    raw = make_message(from_="x@y.test", html='<a href="https://keep-mailbox.web.app/">Keep</a>')
    raw = raw.replace(b"From: x@y.test", b"From: Office365 ,_<x7@random-host.test>", 1)
    verdict = Scanner(settings).scan(raw).verdict
    assert verdict.action.value == "quarantine", verdict.as_dict()
