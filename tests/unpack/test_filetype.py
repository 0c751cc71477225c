import io
import zipfile

import pytest

from kakuri.unpack.filetype import sniff
from tests.builders_archive import (
    LNK_HEADER,
    PE_STUB,
    compressed,
    iso_of,
    onenote_with,
    rar4_stored,
    seven_zip,
    tar_of,
    tnef_with,
    zip_of,
)
from tests.builders_office import doc_with_vba, plain_doc


def _ooxml(main: str, macro: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{main}/document.xml", "<x/>")
        if macro:
            archive.writestr(f"{main}/vbaProject.bin", b"\0")
    return out.getvalue()


@pytest.mark.parametrize(
    "data, kind",
    [
        (zip_of({"a.txt": b"x"}), "zip"),
        (_ooxml("word"), "docx"),
        (_ooxml("xl", macro=True), "xlsm"),
        (_ooxml("ppt"), "pptx"),
        (plain_doc(), "doc"),
        (doc_with_vba({"ThisDocument": "Sub AutoOpen()\nEnd Sub"}), "doc"),
        (b"{\\rtf1\\ansi hello}", "rtf"),
        (b"{\\rt0 word still opens this}", "rtf"),
        (b"%PDF-1.7\n", "pdf"),
        (PE_STUB, "pe"),
        (b"MZ just text", "dos"),
        (b"\x7fELF\x02\x01\x01", "elf"),
        (seven_zip({"a": b"x"}), "7z"),
        (rar4_stored({"a": b"x"}), "rar"),
        (b"Rar!\x1a\x07\x01\x00" + b"\0" * 20, "rar"),
        (compressed(b"x", "gzip"), "gzip"),
        (compressed(b"x", "bzip2"), "bzip2"),
        (compressed(b"x", "xz"), "xz"),
        (tar_of({"a": b"x"}), "tar"),
        (iso_of({"a.exe": PE_STUB}), "iso"),
        (LNK_HEADER, "lnk"),
        (onenote_with([b"x"]), "onenote"),
        (b"MSCF\0\0\0\0" + b"\0" * 40, "cab"),
        (b"ITSF\x03\0\0\0" + b"\0" * 40, "chm"),
        (tnef_with({"a.txt": b"x"}), "tnef"),
        (b"vhdxfile" + b"\0" * 100, "vhdx"),
        (b"\0" * 1024 + b"conectix" + b"\0" * 504, "vhd"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 10, "png"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"GIF89a", "gif"),
        (b"  <!DOCTYPE html><html></html>", "html"),
        (b"<HTA:APPLICATION ID='x'>", "html"),
        (b"var x = new ActiveXObject('WScript.Shell');\r\n", "text"),
        ("お世話になっております。".encode("shift_jis"), "text"),
        (b"\x00\x01\x02\x03" * 100, "data"),
        (b"", "empty"),
    ],
)
def test_sniff_names_the_type_by_content(data, kind):
    assert sniff(data) == kind


def test_zip_behind_junk_bytes_is_still_a_zip():
    assert sniff(b"\x00\x13junk" * 10 + zip_of({"a.exe": PE_STUB})) == "zip"


def test_fat_boot_sector_is_a_disk_image():
    sector = bytearray(512)
    sector[0x36:0x3B] = b"FAT12"
    sector[510:512] = b"\x55\xaa"
    assert sniff(bytes(sector) + b"\0" * 4096) == "img"


def test_stored_zip_of_a_macro_document_is_a_zip_not_the_document():
    # Stored members show their bytes, [Content_Types].xml included: only the archive's own names count.
    assert sniff(zip_of({"report.docm": _ooxml("word", macro=True)}, stored=True)) == "zip"


def test_damaged_ooxml_without_central_directory_is_still_recognised_by_its_bytes():
    data = _ooxml("word")
    assert sniff(data[: data.rfind(b"PK\x01\x02")]) == "docx"
