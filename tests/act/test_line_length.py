"""Over-long lines are made safe for relay: headers folded, bodies re-encoded, content unchanged."""

from __future__ import annotations

import email

from kakuri.act.line_length import LIMIT, fold_long_lines
from tests.builders import make_message


def long_mail() -> bytes:
    return (
        b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hello\r\n folded as sent\r\n"
        b"X-Note: " + b"word " * 300 + b"\r\nX-Token: " + b"t" * 2500 + b"\r\n"
        b"X-Raw: \xe6\x97\xa5\xe6\x9c\xac\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + ("日本語の長い行 " * 300).encode() + b"\r\nshort line\r\n"
        b"--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b"JVBE" * 700 + b"\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nuntouched   \r\n--b1--\r\n"
    )


def decoded_parts(raw: bytes) -> list[bytes]:
    parts = [p for p in email.message_from_bytes(raw).walk() if not p.is_multipart()]
    return [p.get_payload(decode=True).replace(b"\r\n", b"\n") for p in parts]


def test_every_line_fits_and_every_part_decodes_to_the_same_content():
    raw = long_mail()
    out = fold_long_lines(raw)
    assert max(len(line) for line in out.split(b"\r\n")) <= LIMIT
    assert decoded_parts(out) == decoded_parts(raw)
    headers = email.message_from_bytes(out)
    assert headers["X-Note"].split() == ["word"] * 300  # folded at white space: the words survive
    assert b"X-Raw: \xe6\x97\xa5\xe6\x9c\xac\r\n" in out and b"Subject: hello\r\n folded as sent\r\n" in out
    assert b"untouched   \r\n" in out  # a part within the limit is not re-encoded


def test_text_is_quoted_printable_and_binary_is_rewrapped_base64():
    out = email.message_from_bytes(fold_long_lines(long_mail()))
    text, binary, _ = [p for p in out.walk() if not p.is_multipart()]
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert binary["Content-Transfer-Encoding"] == "base64"


def test_mail_within_the_limit_is_returned_as_it_is():
    raw = make_message(body="line\n" * 50, attachments=[("a.bin", b"\x00" * 5000)])
    assert fold_long_lines(raw) is raw
