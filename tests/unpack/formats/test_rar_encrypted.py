"""Encrypted RAR opened by Debian's unar in a box with the message's candidate passwords (formats/rar.py)."""

from __future__ import annotations

import pytest

from kakuri.unpack.formats import external, rar
from kakuri.unpack.limits import UnpackLimits
from tests.builders_archive import PE_STUB, rar5_encrypted

pytestmark = pytest.mark.skipif(external.tool("unar") is None, reason="needs Debian's unar (scripts/install-system.sh)")
VBS = b'CreateObject("WScript.Shell").Run "powershell -enc SQBFAFgA"'


def test_rar5_encrypted_with_the_password_in_the_body_is_opened_and_scanned(unpack):
    archive = rar5_encrypted({"請求書.vbs": VBS, "docs/note.txt": b"hello"}, "Kx9-2020")
    result = unpack({"invoice.rar": archive}, body="請求書を送付します。\nパスワード：Kx9-2020\n")
    assert result.part("invoice.rar/請求書.vbs").data == VBS
    assert result.part("invoice.rar/docs/note.txt").data == b"hello"
    opened = result.finding("ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE")
    assert opened.evidence["password"] == "Kx9-2020" and opened.evidence["container"] == "rar"
    assert "ARCHIVE_ENCRYPTED_UNOPENED" not in result.symbols


def test_wrong_candidates_leave_it_unopened_with_the_member_names(unpack):
    archive = rar5_encrypted({"run.exe": PE_STUB}, "Right-77")
    result = unpack({"a.rar": archive}, body="PW: Wrong-77\n")
    locked = result.finding("ARCHIVE_ENCRYPTED_UNOPENED")
    assert locked.evidence["attempts"] == "1" and locked.evidence["members"] == "1"
    assert result.part("a.rar/run.exe").encrypted and result.part("a.rar/run.exe").data == b""


def test_a_member_over_the_size_cap_is_reported_and_the_rest_extracted(unpack):
    archive = rar5_encrypted({"big.bin": b"\x00" * 300_000, "run.exe": PE_STUB}, "Kx9-2020")
    limits = UnpackLimits(max_member_bytes=100_000)
    result = unpack({"a.rar": archive}, body="パスワード：Kx9-2020\n", limits=limits)
    assert result.part("a.rar/run.exe").true_type == "pe"
    assert "a.rar/big.bin" not in result.paths
    exceeded = result.finding("ARCHIVE_LIMIT_EXCEEDED")
    assert exceeded.evidence["limit"] == "max_member_bytes" and exceeded.evidence["member"] == "big.bin"


def test_more_members_than_the_budget_stop_before_anything_is_written(unpack):
    archive = rar5_encrypted({f"f{i}.txt": b"x" for i in range(6)}, "Kx9-2020")
    result = unpack({"a.rar": archive}, body="パスワード：Kx9-2020\n", limits=UnpackLimits(max_members=4))
    assert result.finding("ARCHIVE_LIMIT_EXCEEDED").evidence["limit"] == "max_members"
    assert not [p for p in result.paths if p.startswith("a.rar/")]


def test_without_unar_it_stays_unopened_and_says_what_to_install(unpack, monkeypatch):
    monkeypatch.setattr(rar, "tool", lambda name: None)
    result = unpack({"a.rar": rar5_encrypted({"run.exe": PE_STUB}, "Kx9-2020")}, body="パスワード：Kx9-2020\n")
    assert "install Debian's unar" in result.finding("ARCHIVE_ENCRYPTED_UNOPENED").evidence["reason"]
