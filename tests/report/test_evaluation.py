"""Figures per carried content: which delivery technique a message uses decides its row in `kakuri eval`."""

import pytest

from kakuri.parse.mime import parse_message
from kakuri.report.evaluation import carrier_of
from tests.builders import make_message

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.mark.parametrize(
    ("kwargs", "carrier"),
    [
        ({"body": "Call us at +1 800 555 0100 to cancel your renewal."}, "no link"),
        ({"body": "Sign in at https://login.example.net/verify now."}, "link only"),
        ({"attachments": [("invite.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar")]}, "calendar"),
        ({"attachments": [("Remittance.htm", b"<html><form></form></html>", "text/html")]}, "html attachment"),
        ({"attachments": [("scan.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")]}, "pdf"),
        ({"attachments": [("qr.png", PNG, "image/png")]}, "image"),
        ({"html": '<a href="https://shop.example.com/">shop</a><img src="cid:logo">',
          "attachments": [("statement.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"), ("qr.png", PNG, "image/png")]}, "pdf"),
    ],
)
def test_carrier_names_the_delivery_technique(kwargs, carrier):
    assert carrier_of(parse_message(make_message(**kwargs))) == carrier
