import pytest

from tests.builders_archive import (
    cab_stored,
    fat12_image,
    fixed_vhd,
    mbr_disk,
    LNK_HEADER,
    PE_STUB,
    compressed,
    iso_of,
    onenote_with,
    rar4_stored,
    rar5_stored,
    tar_of,
    tnef_with,
)

HTA = b"<HTA:APPLICATION ID='x'><script>new ActiveXObject('WScript.Shell').Run('cmd')</script>"


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_compressed_tar_members_are_extracted_without_a_nested_finding(unpack, compression):
    result = unpack({f"a.tar.{compression}": tar_of({"dir/run.exe": PE_STUB}, compression=compression)})
    assert result.part(f"a.tar.{compression}/a.tar/dir/run.exe").true_type == "pe"
    assert result.findings == []


@pytest.mark.parametrize("kind, suffix", [("gzip", "gz"), ("bzip2", "bz2"), ("xz", "xz"), ("zstd", "zst")])
def test_single_compressed_file_is_named_after_its_container(unpack, kind, suffix):
    result = unpack({f"invoice.doc.{suffix}": compressed(PE_STUB, kind)})
    assert result.part(f"invoice.doc.{suffix}/invoice.doc").true_type == "pe"


def test_iso_with_shortcut_and_exe_is_a_disk_image_and_is_extracted(unpack):
    result = unpack({"請求書.iso": iso_of({"請求書.lnk": LNK_HEADER, "data/run.exe": PE_STUB})})
    assert result.part("請求書.iso/請求書.lnk").true_type == "lnk"
    assert result.part("請求書.iso/data/run.exe").true_type == "pe"
    assert result.finding("ARCHIVE_DISK_IMAGE").evidence["type"] == "iso"


def test_fat_img_members_are_extracted(unpack):
    result = unpack({"scan.img": fat12_image({"invoice.lnk": LNK_HEADER, "run.exe": PE_STUB * 3})})
    assert result.part("scan.img/INVOICE.LNK").true_type == "lnk"
    assert result.part("scan.img/RUN.EXE").data == PE_STUB * 3
    assert result.finding("ARCHIVE_DISK_IMAGE").evidence["type"] == "img"


def test_fixed_vhd_with_a_partitioned_fat_disk_is_extracted(unpack):
    disk = fixed_vhd(mbr_disk(fat12_image({"invoice.lnk": LNK_HEADER})))
    result = unpack({"invoice.vhd": disk})
    assert result.part("invoice.vhd/INVOICE.LNK").true_type == "lnk"
    assert result.finding("ARCHIVE_DISK_IMAGE").evidence["type"] == "vhd"


def test_partitioned_raw_img_is_extracted(unpack):
    result = unpack({"disk.img": mbr_disk(fat12_image({"run.exe": PE_STUB}))})
    assert result.part("disk.img/RUN.EXE").true_type == "pe"


def test_partition_without_fat_is_reported_unsupported(unpack):
    ntfs_like = b"\xebR\x90NTFS    " + b"\0" * (64 * 1024)
    result = unpack({"disk.img": mbr_disk(ntfs_like, partition_type=0x07)})
    assert {"ARCHIVE_DISK_IMAGE", "ARCHIVE_UNSUPPORTED"} <= result.symbols


def test_damaged_vhdx_is_corrupt_not_a_crash(unpack):
    result = unpack({"disk.vhdx": b"vhdxfile" + b"\0" * 4096})
    assert "ARCHIVE_DISK_IMAGE" in result.symbols
    assert result.symbols & {"ARCHIVE_CORRUPT", "ARCHIVE_UNSUPPORTED"}


def test_rar4_members_are_read_in_process(unpack):
    result = unpack({"a.rar": rar4_stored({"run.exe": PE_STUB, "note.txt": b"hello"})})
    assert result.part("a.rar/run.exe").data == PE_STUB
    assert result.part("a.rar/note.txt").data == b"hello"


def test_rar5_members_are_read_in_process(unpack):
    result = unpack({"a.rar": rar5_stored({"請求書.exe": PE_STUB, "note.txt": b"hello"})})
    assert result.part("a.rar/請求書.exe").true_type == "pe"
    assert result.part("a.rar/note.txt").data == b"hello"


@pytest.mark.parametrize("build", [rar4_stored, rar5_stored])
def test_encrypted_rar_is_detected_with_its_member_names(unpack, build):
    result = unpack({"a.rar": build({"run.exe": PE_STUB}, encrypted=True)}, body="password: abc123")
    assert result.symbols == {"ARCHIVE_ENCRYPTED_UNOPENED"}
    assert result.part("a.rar/run.exe").encrypted


def test_rar5_signature_that_does_not_parse_is_corrupt_not_a_crash(unpack):
    result = unpack({"a.rar": b"Rar!\x1a\x07\x01\x00" + b"\x11" * 64})
    assert "ARCHIVE_CORRUPT" in result.symbols


def test_cab_members_are_read_in_process(unpack):
    result = unpack({"a.cab": cab_stored({"run.exe": PE_STUB, "note.txt": b"hello"})})
    assert result.part("a.cab/run.exe").true_type == "pe"
    assert result.part("a.cab/note.txt").data == b"hello"


def test_onenote_embedded_files_are_extracted(unpack):
    result = unpack({"scan.one": onenote_with([HTA, PE_STUB])})
    types = [child.true_type for child in result.part("scan.one").children]
    assert types == ["html", "pe"]


def test_onenote_with_a_lying_length_is_corrupt(unpack):
    blob = bytearray(onenote_with([PE_STUB]))
    at = blob.find(bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")) + 16
    blob[at:at + 8] = (10**12).to_bytes(8, "little")
    assert "ARCHIVE_CORRUPT" in unpack({"x.one": bytes(blob)}).symbols


def test_tnef_attachments_are_extracted(unpack):
    result = unpack({"winmail.dat": tnef_with({"invoice.exe": PE_STUB})})
    assert result.part("winmail.dat/invoice.exe").true_type == "pe"


def test_tnef_garbage_is_corrupt(unpack):
    assert "ARCHIVE_CORRUPT" in unpack({"winmail.dat": tnef_with({"a": b"x"})[:30]}).symbols


def test_gzip_bomb_is_stopped_at_the_cap_while_streaming(unpack):
    from kakuri.unpack.limits import UnpackLimits

    result = unpack({"logs.gz": compressed(b"\0" * 8 * 1024 * 1024, "gzip")},
                    limits=UnpackLimits(max_member_bytes=2 * 1024 * 1024))
    assert result.finding("ARCHIVE_BOMB").evidence["reason"] == "ratio"
    assert result.part("logs.gz").children == []
