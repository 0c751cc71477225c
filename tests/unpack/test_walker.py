import random
import time

import pytest

from kakuri.model import ParsedMessage, Part
from kakuri.unpack.limits import UnpackLimits
from kakuri.unpack.walker import SYMBOLS, unpack_message
from tests.builders_archive import (
    LNK_HEADER,
    PE_STUB,
    cab_stored,
    compressed,
    encrypted_zip,
    fat12_image,
    fixed_vhd,
    iso_of,
    mbr_disk,
    nested_zip_bomb,
    onenote_with,
    rar4_stored,
    seven_zip,
    tar_of,
    tnef_with,
    zip_of,
)


def test_message_without_containers_only_gets_true_types():
    message = ParsedMessage(raw=b"", headers=[], parts=[Part("a.pdf", b"%PDF-1.4\n"), Part("b.png", b"\x89PNG\r\n\x1a\n")])
    asked = []
    assert unpack_message(message, UnpackLimits(), lambda: asked.append(1) or []) == []
    assert [p.true_type for p in message.parts] == ["pdf", "png"]
    assert asked == []  # passwords are only fetched for an encrypted container


def test_zip_in_7z_in_iso_is_unpacked_to_the_bottom(unpack):
    inner = zip_of({"請求書.js": b"WScript.CreateObject('WScript.Shell').Run('calc')"})
    result = unpack({"scan.iso": iso_of({"archive.7z": seven_zip({"inner.zip": inner})})})
    leaf = result.part("scan.iso/archive.7z/inner.zip/請求書.js")
    assert leaf.depth == 3 and leaf.container == "zip" and leaf.true_type == "text"
    nested = [f for f in result.findings if f.symbol == "ARCHIVE_NESTED"]
    assert {f.evidence["inner"] for f in nested} == {"7z", "zip"}
    assert "ARCHIVE_DISK_IMAGE" in result.symbols


def test_password_of_an_outer_zip_also_opens_the_inner_one(unpack):
    inner = encrypted_zip({"run.exe": PE_STUB}, "Pw7097")
    outer = encrypted_zip({"inner.zip": inner}, "Pw7097")
    result = unpack({"o.zip": outer}, body="File: o.zip\nPassword: Pw7097\n")
    assert result.part("o.zip/inner.zip/run.exe").true_type == "pe"


def test_depth_limit_stops_descent_with_a_finding(unpack):
    data = PE_STUB
    for level in range(6):
        data = zip_of({f"l{level}.zip" if level else "run.exe": data})
    result = unpack({"deep.zip": data}, limits=UnpackLimits(max_depth=3))
    finding = result.finding("ARCHIVE_LIMIT_EXCEEDED")
    assert finding.evidence["limit"] == "max_depth"
    assert max(p.depth for p in result.message.walk_parts()) == 3


def test_42_zip_style_nested_bomb_hits_the_member_limit_quickly(unpack):
    bomb = nested_zip_bomb(levels=4, copies=10, leaf_bytes=100_000)  # 10^4 leaves of zeros
    started = time.perf_counter()
    result = unpack({"42.zip": bomb}, limits=UnpackLimits(max_members=300))
    assert time.perf_counter() - started < 10
    assert result.finding("ARCHIVE_LIMIT_EXCEEDED").evidence["limit"] == "max_members"
    assert sum(1 for _ in result.message.walk_parts()) <= 301


def test_total_bytes_limit_is_message_wide(unpack):
    import os

    blob = os.urandom(600_000)
    attachments = {f"{i}.zip": zip_of({f"{i}.bin": blob}) for i in range(4)}
    result = unpack(attachments, limits=UnpackLimits(max_total_bytes=1_500_000))
    assert result.finding("ARCHIVE_LIMIT_EXCEEDED").evidence["limit"] == "max_total_bytes"
    assert sum(p.size for p in result.message.walk_parts() if p.depth) <= 1_500_000


def test_timeout_stops_unpacking_with_a_finding(unpack):
    many = zip_of({f"{i}.txt": b"x" * 1000 for i in range(50)})
    result = unpack({f"{i}.zip": many for i in range(5)}, limits=UnpackLimits(timeout_seconds=0.0))
    assert result.finding("ARCHIVE_LIMIT_EXCEEDED").evidence["limit"] == "timeout_seconds"


def test_password_attempts_are_capped(unpack):
    body = "\n".join(f"password: wrong{i}" for i in range(30))
    result = unpack({"x.zip": encrypted_zip({"a.exe": PE_STUB}, "right")}, body=body,
                    limits=UnpackLimits(max_password_attempts=5))
    assert result.finding("ARCHIVE_ENCRYPTED_UNOPENED").evidence["attempts"] == "5"


def test_password_from_another_source_is_not_called_in_message():
    data = encrypted_zip({"a.pdf": b"%PDF-1.4"}, "fromThread1")
    message = ParsedMessage(raw=b"", headers=[], text="see attached", parts=[Part("a.zip", data, "a.zip")])
    findings = unpack_message(message, UnpackLimits(), lambda: ["fromThread1"])
    assert [f.symbol for f in findings] == ["ARCHIVE_ENCRYPTED"]
    assert findings[0].evidence["password_source"] == "other source"


def test_thread_password_that_only_occurs_as_a_date_in_the_body_is_not_in_message():
    data = encrypted_zip({"a.pdf": b"%PDF-1.4"}, "2020")
    message = ParsedMessage(raw=b"", headers=[], text="Invoice for September 2020 attached.",
                            parts=[Part("a.zip", data, "a.zip")])
    findings = unpack_message(message, UnpackLimits(), lambda: ["2020"])
    assert [f.symbol for f in findings] == ["ARCHIVE_ENCRYPTED"]


def test_every_emitted_symbol_is_declared(unpack):
    declared = {spec.name for spec in SYMBOLS}
    result = unpack({"a.iso": iso_of({"b.zip": zip_of({"c.exe": PE_STUB})}), "d.vhd": b"vhdxfile" + bytes(64),
                     "e.zip": b"PK\x03\x04broken"})
    assert result.symbols and result.symbols <= declared


_SAMPLES = {
    "zip": zip_of({"a.doc": PE_STUB * 20, "b.txt": b"hello" * 200}),
    "zipcrypto": encrypted_zip({"a.exe": PE_STUB * 20}, "pw1"),
    "aes": encrypted_zip({"a.exe": PE_STUB * 20}, "pw1", aes=True),
    "7z": seven_zip({"a.exe": PE_STUB * 20}),
    "tgz": tar_of({"a.exe": PE_STUB * 20}, compression="gz"),
    "xz": compressed(PE_STUB * 20, "xz"),
    "iso": iso_of({"a.lnk": LNK_HEADER}),
    "rar": rar4_stored({"a.exe": PE_STUB * 20}),
    "one": onenote_with([PE_STUB * 20]),
    "tnef": tnef_with({"a.exe": PE_STUB * 20}),
    "cab": cab_stored({"a.exe": PE_STUB * 20}),
    "img": fat12_image({"a.exe": PE_STUB * 20}, data_sectors=64),
    "vhd": fixed_vhd(mbr_disk(fat12_image({"a.lnk": LNK_HEADER}, data_sectors=64))),
}


@pytest.mark.parametrize("kind", sorted(_SAMPLES))
def test_mangled_containers_never_raise(kind):
    rng = random.Random(kind)
    original = _SAMPLES[kind]
    for trial in range(25):
        data = bytearray(original)
        if trial % 2:
            data = data[: rng.randrange(1, len(data))]
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        message = ParsedMessage(raw=b"", headers=[], text="password: pw1", parts=[Part("x", bytes(data), "x")])
        findings = unpack_message(message, UnpackLimits(timeout_seconds=5), lambda: ["pw1"])
        assert all(f.symbol.startswith("ARCHIVE_") for f in findings)
