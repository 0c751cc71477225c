"""Delivered copies: our headers on top, outside X-Kakuri-* gone, subject tagged once, body untouched."""

from email import message_from_bytes

from kakuri.act.tagging import received_header, split_header, tag_message
from tests.builders import make_message


def test_tag_adds_headers_and_subject_tag_without_touching_the_body():
    raw = make_message(subject="見積書の件", body="本文です\n")
    out = tag_message(
        raw,
        action="tag",
        score=6.5,
        symbols=["URL_LURE", "FILE_DOUBLE_EXTENSION"],
        queue_id="q1",
        subject_tag="[SUSPICIOUS]",
    )
    parsed = message_from_bytes(out)
    assert parsed["X-Kakuri-Verdict"] == "tag; score=6.50; id=q1"
    assert parsed["X-Kakuri-Symbols"] == "URL_LURE, FILE_DOUBLE_EXTENSION"
    assert out.split(b"\r\n\r\n", 1)[1] == raw.split(b"\r\n\r\n", 1)[1]
    assert b"Subject: [SUSPICIOUS] =?utf-8?" in out  # the tag goes before the encoded words


def test_subject_tag_is_not_doubled_on_redelivery():
    once = tag_message(make_message(subject="hi"), action="tag", score=6, symbols=[], queue_id="q", subject_tag="[S]")
    twice = tag_message(once, action="tag", score=6, symbols=[], queue_id="q", subject_tag="[S]")
    assert message_from_bytes(twice)["Subject"] == "[S] hi"
    assert len(message_from_bytes(twice).get_all("X-Kakuri-Verdict")) == 1


def test_deliver_leaves_the_subject_alone_and_drops_forged_verdicts():
    raw = make_message(subject="hi", headers={"X-Kakuri-Verdict": "deliver", "x-kakuri-symbols": "NONE"})
    out = message_from_bytes(tag_message(raw, action="deliver", score=0, symbols=[], queue_id="q", subject_tag="[S]"))
    assert out["Subject"] == "hi"
    assert out.get_all("X-Kakuri-Verdict") == ["deliver; score=0.00; id=q"]
    assert out.get_all("X-Kakuri-Symbols") is None


def test_folded_headers_and_missing_subject():
    raw = b"From: a@b\nX-Kakuri-Symbols: A,\n B\nTo: c@d\n\nbody"
    fields, rest = split_header(raw)
    assert fields == [b"From: a@b\n", b"X-Kakuri-Symbols: A,\n B\n", b"To: c@d\n"] and rest == b"\nbody"
    out = tag_message(raw, action="tag", score=1, symbols=[], queue_id="q", subject_tag="[S]")
    assert b"X-Kakuri-Symbols" not in out and message_from_bytes(out)["Subject"] == "[S]"


def test_headers_we_write_cannot_be_split_by_hostile_helo():
    header = received_header(helo="evil\r\nBcc: x@y", client_ip="192.0.2.1", hostname="gw", queue_id="q")
    assert b"\r\nBcc:" not in header
