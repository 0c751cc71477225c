"""Disk images no Python reader opens, read by 7-Zip in a box (formats/image_tool.py): NTFS, UDF-only."""

from __future__ import annotations

import shutil

import pytest

from kakuri.unpack.formats import external, image_tool
from kakuri.unpack.limits import UnpackLimits
from tests.builders_archive import LNK_HEADER, PE_STUB, fixed_vhd, mbr_disk, ntfs_volume, udf_only_of

needs_7zz = pytest.mark.skipif(external.tool("7zz") is None, reason="needs Debian's 7zip (scripts/install-system.sh)")
needs_ntfs3g = pytest.mark.skipif(shutil.which("mkntfs") is None, reason="tests build NTFS with Debian's ntfs-3g")


@needs_7zz
@needs_ntfs3g
def test_ntfs_volume_in_a_vhd_is_read_and_its_shortcut_found(unpack):
    volume = ntfs_volume({"請求書.lnk": LNK_HEADER, "setup.dll": PE_STUB})  # ntfscp makes no folders
    result = unpack({"invoice.vhd": fixed_vhd(mbr_disk(volume, partition_type=0x07, start_lba=2048))})
    assert result.part("invoice.vhd/請求書.lnk").true_type == "lnk"
    assert result.part("invoice.vhd/setup.dll").true_type == "pe"
    assert not [p for p in result.paths if "$MFT" in p or "[SYSTEM]" in p]  # the volume's metadata is not mail content
    assert "ARCHIVE_UNSUPPORTED" not in result.symbols and "ARCHIVE_DISK_IMAGE" in result.symbols


@needs_7zz
@needs_ntfs3g
def test_raw_ntfs_image_is_read(unpack):
    result = unpack({"share.img": ntfs_volume({"run.exe": PE_STUB})})
    assert result.part("share.img/run.exe").data == PE_STUB


@needs_7zz
def test_udf_only_disc_is_read(unpack):
    disc = udf_only_of({"請求書.lnk": LNK_HEADER})
    result = unpack({"invoice.iso": disc})
    assert result.part("invoice.iso/請求書.lnk").true_type == "lnk"
    assert result.finding("ARCHIVE_DISK_IMAGE").evidence["type"] == "udf"


@needs_7zz
def test_more_files_than_the_member_budget_are_refused_before_extraction(unpack):
    disc = udf_only_of({f"f{i}.txt": b"x" for i in range(6)})
    result = unpack({"a.iso": disc}, limits=UnpackLimits(max_members=4))
    assert result.finding("ARCHIVE_LIMIT_EXCEEDED").evidence["limit"] == "max_members"
    assert not [p for p in result.paths if p.startswith("a.iso/")]


@needs_7zz
def test_a_file_over_the_size_cap_is_excluded_and_reported(unpack):
    disc = udf_only_of({"big.bin": b"\x00" * 200_000, "run.exe": PE_STUB})
    result = unpack({"a.iso": disc}, limits=UnpackLimits(max_member_bytes=100_000))
    assert result.part("a.iso/run.exe").true_type == "pe" and "a.iso/big.bin" not in result.paths
    assert result.finding("ARCHIVE_LIMIT_EXCEEDED").evidence["member"] == "big.bin"


def test_without_7zz_an_udf_only_disc_is_unsupported_and_says_what_to_install(unpack, monkeypatch):
    monkeypatch.setattr(image_tool, "tool", lambda name: None)
    result = unpack({"a.iso": udf_only_of({"a.lnk": LNK_HEADER})})
    assert "install Debian's 7zip" in result.finding("ARCHIVE_UNSUPPORTED").evidence["reason"]
