"""The parser decodes what mail clients decode, and never raises on malformed input."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from kakuri.parse.mime import parse_message
from tests.builders import make_message


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8", "surrogateescape")


def test_iso2022jp_subject_name_and_body_are_decoded():
    body = "請求書を送付いたします。\nパスワードは別途お送りします。\n".encode("iso2022_jp")
    raw = (
        b"From: =?ISO-2022-JP?B?GyRCOzNLXBsoQiAbJEJCQE86GyhC?= <taro@partner.example>\r\n"
        b"To: hanako@tokai-keiki.example\r\n"
        b"Subject: =?ISO-2022-JP?B?GyRCQEE1YT1xGyhC?=\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n" + body
    )
    msg = parse_message(raw)
    assert msg.subject == "請求書"
    assert msg.from_name == "山本 太郎"
    assert msg.from_addr == "taro@partner.example"
    assert "パスワードは別途" in msg.text
    assert not msg.defects


@pytest.mark.parametrize("charset,codec", [("Shift_JIS", "cp932"), ("EUC-JP", "euc_jp"), ("UTF-8", "utf-8")])
def test_japanese_body_charsets(charset, codec):
    raw = _crlf(f"From: a@b.example\nSubject: x\nContent-Type: text/plain; charset={charset}\n\n") + "①請求書のご確認".encode(codec, "replace")
    assert "請求書のご確認" in parse_message(raw).text


def test_wrong_declared_charset_is_guessed_and_recorded():
    raw = _crlf("From: a@b.example\nContent-Type: text/plain; charset=us-ascii\n\n") + "見積書".encode("cp932")
    msg = parse_message(raw)
    assert "見積書" in msg.text
    assert any(d.startswith("CharsetGuessed") for d in msg.defects)


def test_rfc2231_and_rfc2047_filenames():
    rfc2231 = "=?ISO-2022-JP?B?GyRCQEE1YT1xGyhC?="
    raw = _crlf(
        "From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n"
        "Content-Type: text/plain\n\nhi\n--XX\n"
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.zip\n"
        "Content-Transfer-Encoding: base64\n\n" + base64.b64encode(b"PK\x05\x06" + b"\0" * 18).decode() + "\n--XX\n"
        f'Content-Type: application/msword; name="{rfc2231}.doc"\n'
        "Content-Transfer-Encoding: base64\n\nAAAA\n--XX--\n"
    )
    names = [p.filename for p in parse_message(raw).parts]
    assert names == ["請求書.zip", "請求書.doc"]


def test_raw_shift_jis_filename_bytes():
    raw = (
        b"From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
        b'Content-Type: application/zip; name="' + "注文書.zip".encode("cp932") + b'"\r\n\r\nPK\r\n--XX--\r\n'
    )
    assert parse_message(raw).parts[0].filename == "注文書.zip"


def test_encoded_word_without_terminator_is_still_decoded():
    raw = b"From: a@b.example\r\nSubject: =?UTF-8?B?6KuL5rGC5pu4?= =?UTF-8?B?5pu4\r\n\r\nx"
    assert parse_message(raw).subject.startswith("請求書")


def test_path_components_in_filenames_are_dropped():
    raw = make_message(attachments=[("..\\..\\Windows\\evil.exe", b"MZ")])
    assert parse_message(raw).parts[0].filename == "evil.exe"


def test_html_body_becomes_text_without_script():
    raw = make_message(html="<html><head><style>p{}</style><script>alert(1)</script></head><body><p>Hello <b>you</b></p></body></html>")
    msg = parse_message(raw)
    assert "Hello you" in msg.html_text
    assert "alert" not in msg.html_text


def test_nested_rfc822_attachment_parts_are_reached():
    inner = make_message(subject="inner", attachments=[("report.doc", b"\xd0\xcf\x11\xe0")])
    outer = _crlf(
        "From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n"
        "Content-Type: text/plain\n\nsee attached\n--XX\nContent-Type: message/rfc822\n\n"
    ) + inner + b"\r\n--XX--\r\n"
    msg = parse_message(outer)
    assert "report.doc" in [p.filename for p in msg.parts]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01\x02garbage",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        b"Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64***\r\n",
        b"Subject: " + b"A" * 200_000 + b"\r\n\r\nbody",
        b"From: <<<>>>@@@\r\nTo: ,,,,\r\nMessage-ID: <\r\nReferences: <a> <b\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=A\r\n\r\n" + b"--A\r\nContent-Type: multipart/mixed; boundary=A\r\n\r\n" * 200,
        b"Content-Type: text/plain; charset=x-unknown-charset\r\n\r\n\xff\xfe\xfa",
        b"Header-Without-Colon\r\n\r\nbody\n\rmixed\rline\nendings",
    ],
)
def test_malformed_input_never_raises(raw):
    msg = parse_message(raw)
    assert msg.raw == raw


def test_huge_header_is_cut_and_recorded():
    msg = parse_message(b"Subject: " + b"A" * 200_000 + b"\r\n\r\nbody")
    assert len(msg.subject) <= 16_384
    assert any(d.startswith("HeaderTooLong") for d in msg.defects)


@hsettings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data):
    parse_message(b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n" + data)


def test_large_base64_attachment_is_identical_with_the_fast_path():
    import os

    from kakuri.parse import mime

    payload = os.urandom(300_000)
    raw = make_message(attachments=[("drawing.pdf", payload, "application/pdf"), ("b.bin", b"small")])
    fast = mime.parse_message(raw)
    assert [p.data for p in fast.parts] == [payload, b"small"]
    assert not fast.defects


def test_forged_skeleton_token_is_just_text():
    raw = make_message(body="KAKURI-0000000000000000-0\n" + "x" * 70_000, attachments=[("a.bin", b"\0" * 100_000)])
    msg = parse_message(raw)
    assert "KAKURI-0000000000000000-0" in msg.text
    assert msg.parts[0].data == b"\0" * 100_000


def test_address_inside_an_encoded_display_name_is_not_the_sender():
    import base64 as b64

    fake = b64.b64encode("藤田 明美 <fujita@partner.example>".encode()).decode()
    raw = f"From: =?UTF-8?B?{fake}?= <host34@attacker.test>\r\nTo: a@b.example\r\n\r\nhi".encode()
    msg = parse_message(raw)
    assert msg.from_addr == "host34@attacker.test"
    assert msg.from_name == "藤田 明美 <fujita@partner.example>"


def test_large_base64_attachment_with_a_stray_8bit_byte_keeps_every_part():
    # Found by fuzzing: the fast path's fallback failed on 8-bit bytes and the whole message parsed empty.
    import os

    raw = make_message(attachments=[("drawing.pdf", os.urandom(100_000), "application/pdf"),
                                    ("run.js", b"WScript.Shell")])
    head, tail = raw.split(b"\r\n\r\n", 1)
    at = tail.index(b"\r\n", len(tail) // 2)
    # one base64 character replaced by an 8-bit byte: bad padding sends the body to the stdlib's decoder
    msg = parse_message(head + b"\r\n\r\n" + tail[: at - 1] + b"\xac" + tail[at:])
    assert [p.filename for p in msg.parts] == ["drawing.pdf", "run.js"]
    assert msg.parts[1].data == b"WScript.Shell"
    assert not [d for d in msg.defects if d.startswith("ParseFailed")]


def test_charset_label_with_a_nul_does_not_lose_the_attachments():
    # Found by fuzzing: codecs.lookup raises ValueError on a NUL, and the whole message parsed empty.
    raw = make_message(body="hello\n", attachments=[("run.js", b"WScript.Shell")])
    raw = raw.replace(b'charset="utf-8"', b'charset="utf\x00-8"', 1)
    assert b"utf\x00-8" in raw
    msg = parse_message(raw)
    assert [p.filename for p in msg.parts] == ["run.js"]
    assert "hello" in msg.text
