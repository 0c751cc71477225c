"""File type by content (magic numbers), for every part and member.

Threat: a name or MIME type that lies ("invoice.pdf" that is a PE, "photo.jpg" that is a zip). Every
detector that cares about a file's nature reads `Part.true_type`, which `sniff` fills.

Hand-written prefix checks rather than libmagic: this runs on every part of every message, and a dozen
`startswith` calls cost microseconds where a libmagic call costs tens to hundreds (libmagic also needs
more than it is given to tell docx from xlsx or doc from msi). Returned names are short and stable; the
container ones are the keys of `unpack.formats.FORMATS`.
Blind spots: script languages (only "text"; the file_types detector tells js from vbs), FAT images
without a boot-sector signature, tar without the ustar magic (pre-POSIX v7 tar).
"""

from __future__ import annotations

import struct

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LNK = b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_ONENOTE = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")  # {7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}
_MSI_CLSID = bytes.fromhex("84100c0000000000c000000000000046")  # {000C1084-...}, root entry of .msi
_TNEF = b"\x78\x9f\x3e\x22"

# (prefix, type): checked in order, first match wins.
_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # empty zip
    (b"PK\x07\x08", "zip"),  # spanned-archive marker before the first entry
    (_OLE, "ole"),
    (b"{\\rt", "rtf"),  # Word opens "{\rt" without the "f"
    (b"%PDF-", "pdf"),
    (b"\x7fELF", "elf"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),  # v4 (..\x00) and v5 (..\x01\x00)
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (_LNK, "lnk"),
    (_ONENOTE, "onenote"),
    (b"MSCF\x00\x00\x00\x00", "cab"),
    (b"ITSF", "chm"),
    (_TNEF, "tnef"),
    (b"vhdxfile", "vhdx"),
    (b"conectix", "vhd"),  # dynamic VHD: footer copy at offset 0
    (b"KDMV", "vmdk"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"MSWIM\x00\x00\x00", "wim"),
    (b"\xcf\xfa\xed\xfe", "macho"),
    (b"\xce\xfa\xed\xfe", "macho"),
    (b"\xca\xfe\xba\xbe", "macho"),  # also Java class files; both are executables to us
)
_OOXML_KINDS = ((b"word/", "docx"), (b"xl/", "xlsx"), (b"ppt/", "pptx"))
_TEXT_MARKUP = ((b"<!doctype html", "html"), (b"<html", "html"), (b"<hta:", "html"), (b"<head", "html"),
                (b"<body", "html"), (b"<script", "html"), (b"<svg", "svg"), (b"<?xml", "xml"))

CONTAINER_TYPES = frozenset(
    {"zip", "jar", "7z", "rar", "gzip", "bzip2", "xz", "tar", "iso", "udf", "img", "vhd", "vhdx", "vmdk",
     "dmg", "wim", "onenote", "cab", "tnef", "lzh", "zstd", "ace", "arj"}
)
DISK_IMAGE_TYPES = frozenset({"iso", "udf", "img", "vhd", "vhdx", "vmdk", "dmg", "wim"})


def sniff(data: bytes) -> str:
    """The type of `data` by content; "data" when unknown binary, "empty" for no bytes."""
    if not data:
        return "empty"
    for prefix, kind in _PREFIXES:
        if data.startswith(prefix):
            if kind == "zip":
                return _zip_kind(data)
            if kind == "ole":
                return _ole_kind(data)
            return kind
    return _by_offset(data) or _textual(data) or _trailing(data) or "data"


def _by_offset(data: bytes) -> str | None:
    if data[:2] == b"MZ":
        return "pe" if _has_pe_header(data) else "dos"
    if data[:3] == b"BZh" and data[3:4].isdigit():
        return "bzip2"
    if data[257:262] == b"ustar":
        return "tar"
    if len(data) > 0x8005:
        for offset in (0x8001, 0x8801, 0x9001):
            if data[offset:offset + 5] == b"CD001":
                return "iso"
        if data[0x8001:0x8006] in (b"BEA01", b"NSR02", b"NSR03"):
            return "udf"
    if data[2:5] == b"-lh" and data[6:7] == b"-":
        return "lzh"
    if data[7:14] == b"**ACE**":
        return "ace"
    if data[:2] == b"\x60\xea":
        return "arj"
    if len(data) >= 1024 and data[-512:-504] == b"conectix":  # fixed VHD: raw disk, footer at the end
        return "vhd"
    if data[510:512] == b"\x55\xaa" and (data[0x36:0x39] == b"FAT" or data[0x52:0x57] == b"FAT32"
                                         or data[3:7] == b"NTFS" or data[3:8] == b"EXFAT" or _has_mbr(data)):
        return "img"
    return None


# Partition types of a disk image worth a look: FAT12/16/32, NTFS/exFAT, GPT's protective entry.
_PARTITION_TYPES = frozenset({0x01, 0x04, 0x06, 0x07, 0x0B, 0x0C, 0x0E, 0xEE})


def _has_mbr(data: bytes) -> bool:
    return len(data) >= 32 * 1024 and data[0x1BE] in (0x00, 0x80) and data[0x1C2] in _PARTITION_TYPES


def _has_pe_header(data: bytes) -> bool:
    if len(data) < 0x40:
        return False
    offset = int.from_bytes(data[0x3C:0x40], "little")
    return 0 < offset < len(data) - 4 and data[offset:offset + 4] == b"PE\x00\x00"


def _zip_kind(data: bytes) -> str:
    names = _zip_names(data)
    if names is None:  # no readable central directory: judge by the bytes (a damaged document or archive)
        return _zip_kind_by_bytes(data)
    # Only the archive's own entries count: a stored zip shows its members' bytes, so a .docm inside a
    # plain zip must not make the zip look like a document (and escape unpacking).
    if "[Content_Types].xml" in names:
        macro = any(n.lower().endswith("vbaproject.bin") for n in names)
        for marker, kind in _OOXML_KINDS:
            if any(n.startswith(marker.decode()) for n in names):
                return kind[:-1] + "m" if macro else kind
        return "ooxml"
    if names[:1] == ["mimetype"] and b"application/vnd.oasis.opendocument" in data[:200]:
        return "odf"
    if "META-INF/MANIFEST.MF" in names:
        return "jar"
    return "zip"


def _zip_names(data: bytes) -> list[str] | None:
    directory = read_zip_directory(data, _SNIFF_ZIP_ENTRIES)
    if directory is None or (directory[0] and not directory[1]):
        return None
    return [name.decode("utf-8", "replace") for name, _offset, _size in directory[1]]


_SNIFF_ZIP_ENTRIES = 5_000  # an Office file has tens to a few hundred entries


def read_zip_directory(data: bytes, limit: int) -> tuple[int, list[tuple[bytes, int, int]]] | None:
    """(declared entry count, [(name, local header offset, compressed size)] of at most `limit` entries)
    read straight from the end records, ZIP64 aware; None without a readable end record.

    Hand-written because zipfile builds a ZipInfo for every entry before anyone can look: a zip bomb
    declares tens of thousands, and the sniffer runs on every part."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if end < 0 or end + 22 > len(data):
        return None
    entries, size, offset = struct.unpack_from("<HII", data, end + 10)
    if entries == 0xFFFF or 0xFFFFFFFF in (size, offset):
        zip64 = data.rfind(b"PK\x06\x06", max(0, end - 4096), end)
        if zip64 < 0 or zip64 + 56 > len(data):
            return None
        entries, size, offset = struct.unpack_from("<QQQ", data, zip64 + 32)
        end = zip64
    shift = end - size - offset  # bytes prepended to the archive (self-extractors, junk)
    at, listed = end - size, []
    while len(listed) < min(entries, limit) and 0 <= at and at + 46 <= end and data[at:at + 4] == b"PK\x01\x02":
        compressed, name_len, extra_len, comment_len, local = struct.unpack_from("<I4xHHH8xI", data, at + 20)
        listed.append((data[at + 46:at + 46 + name_len], local + shift, compressed))
        at += 46 + name_len + extra_len + comment_len
    return entries, listed


def _zip_kind_by_bytes(data: bytes) -> str:
    head, tail = data[:4096], data[-65536:]
    if b"[Content_Types].xml" in head or b"[Content_Types].xml" in tail:
        macro = b"vbaProject.bin" in tail or b"vbaProject.bin" in head
        for marker, kind in _OOXML_KINDS:
            if marker in tail or marker in head:
                return kind[:-1] + "m" if macro else kind
        return "ooxml"
    return "zip"


def _ole_kind(data: bytes) -> str:
    if _MSI_CLSID in data[:65536] or _MSI_CLSID in data[-65536:]:
        return "msi"
    for name, kind in (("WordDocument", "doc"), ("Workbook", "xls"), ("Book", "xls"),
                       ("PowerPoint Document", "ppt")):
        if name.encode("utf-16-le") in data:
            return kind
    return "ole"


def _textual(data: bytes) -> str | None:
    head = data[:2048]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for marker, kind in _TEXT_MARKUP:
        if lowered.startswith(marker):
            return kind
    if b"<html" in lowered or b"<hta:application" in lowered:
        return "html"
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32 and byte != 27)
    return "text" if controls * 20 < len(head) else None


def _trailing(data: bytes) -> str | None:
    # Zip behind junk (prepended bytes fool naive scanners); Apple disk images (footer at the end).
    if len(data) >= 512 and data[-512:-508] == b"koly":
        return "dmg"
    if b"PK\x05\x06" in data[-65558:] and b"PK\x03\x04" in data:
        return "zip"
    return None
