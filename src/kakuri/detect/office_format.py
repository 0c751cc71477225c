"""Which parts are Office documents, and bounded reads of their insides.

Shared by the office_* detectors so each decides "is this an Office file" the same cheap way: by the
`true_type` the unpack stage sniffed when it is set, otherwise by magic bytes (OLE compound file,
zip with [Content_Types].xml, "{\\rt", "ID;") and, for formats without magic (CSV, web queries),
by the name. No oletools call happens before this says yes, which keeps ordinary mail fast.
"""

from __future__ import annotations

import io
import re
import zipfile
from enum import StrEnum
from typing import Iterator

from kakuri.model import ParsedMessage, Part

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
MAX_MEMBER_BYTES = 16 * 1024 * 1024  # one part of an OOXML package we read into memory
DECRYPTED_CONTAINER = "office-decrypted"  # Part.container of a decrypted copy (see office_encryption)
EMBEDDED_CONTAINER = "ole"  # Part.container of a file extracted from an embedded object


class OfficeKind(StrEnum):
    OLE = "ole"  # MS-CFB: .doc .xls .ppt, encrypted OOXML, embedded objects
    OOXML = "ooxml"  # zip package: .docx .docm .xlsx .xlsm .xlsb .pptm ...
    RTF = "rtf"
    SYLK = "sylk"
    FLAT = "flat"  # one-file XML/MHT forms: Word 2003 XML, Flat OPC, MHT "web archive" .doc with ActiveMime
    CSV = "csv"  # comma/tab separated text that Excel opens (formula injection, DDE)
    IQY = "iqy"  # Excel web query


# unpack/filetype.sniff names; "msi" is an OLE file too but no Office document, so it stays None.
_TRUE_TYPES = {"ole": OfficeKind.OLE, "doc": OfficeKind.OLE, "xls": OfficeKind.OLE, "ppt": OfficeKind.OLE,
               "msi": None, "zip": None, "rtf": OfficeKind.RTF, "sylk": OfficeKind.SYLK, "ooxml": OfficeKind.OOXML,
               **{f"{app}{end}": OfficeKind.OOXML for app in ("doc", "xls", "ppt") for end in "xmb"}}
_TEXT_BY_TYPE = {"text/csv": OfficeKind.CSV, "text/comma-separated-values": OfficeKind.CSV}
_TEXT_BY_EXTENSION = {"csv": OfficeKind.CSV, "tsv": OfficeKind.CSV, "iqy": OfficeKind.IQY, "slk": OfficeKind.SYLK}


def office_kind(part: Part) -> OfficeKind | None:
    """The Office format of `part`, or None. Content wins over the name except for text formats."""
    data = part.data
    if part.true_type in _TRUE_TYPES:
        kind = _TRUE_TYPES[part.true_type]
        return kind if kind is not OfficeKind.OOXML or _is_ooxml_package(data) else None
    if data[:8] == OLE_MAGIC:
        return OfficeKind.OLE
    if data[:4] == b"PK\x03\x04":
        return OfficeKind.OOXML if _is_ooxml_package(data) else None
    if data[:4] == b"{\\rt":  # Word opens "{\rt" followed by anything as RTF
        return OfficeKind.RTF
    if data[:3] == b"ID;":
        return OfficeKind.SYLK
    if _is_flat_document(data):
        return OfficeKind.FLAT
    by_name = _TEXT_BY_EXTENSION.get(part.extension) or _TEXT_BY_TYPE.get(part.content_type.lower())
    if by_name is not None and b"\0" not in data[:4096]:
        return by_name
    return None


_FLAT_XML_MARKERS = (b"mso-application", b"schemas.microsoft.com/office/word/2003/wordml",
                     b"schemas.microsoft.com/office/2006/xmlPackage", b"urn:schemas-microsoft-com:office:spreadsheet")
_ACTIVEMIME_BASE64 = b"QWN0aXZlTWltZ"  # "ActiveMime" at the start of a base64 MHT part: a compressed VBA project


def _is_flat_document(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"<?xml", b"<w:wordDocument", b"<pkg:package", b"<Workbook")):  # Office needs no declaration
        return any(marker in head for marker in _FLAT_XML_MARKERS)
    return b"mime-version" in head[:1024].lower() and _ACTIVEMIME_BASE64 in data


def _is_ooxml_package(data: bytes) -> bool:
    # The name sits in the first local header (Office writes it first) or in the central directory at the
    # end; but a plain zip that *stores* a docx shows the same bytes, so the member list decides.
    if b"[Content_Types].xml" not in data[:4096] and b"[Content_Types].xml" not in data[-65536:]:
        return False
    package = open_package(data)
    if package is None:
        return data[:4] == b"PK\x03\x04"  # a damaged package still looks like Office: report, do not skip
    with package:
        return any(name.lower() == "[content_types].xml" for name in package.namelist())


def office_parts(message: ParsedMessage) -> Iterator[tuple[Part, OfficeKind]]:
    """Every Office part of the message, depth first, including decrypted copies and extracted objects.

    Members the unpack stage took out of an OOXML package (its XML parts) are skipped: the detectors
    read the package as a whole. Children appended while iterating are visited too.
    """
    stack = list(reversed(message.parts))
    while stack:
        part = stack.pop()
        kind = office_kind(part)
        if kind is not None:
            yield part, kind
        children = part.children
        if kind is OfficeKind.OOXML:
            children = [c for c in children if c.container in (DECRYPTED_CONTAINER, EMBEDDED_CONTAINER)]
        stack.extend(reversed(children))


def open_package(data: bytes) -> zipfile.ZipFile | None:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # BadZipFile, but also UnicodeDecodeError, struct.error... on damaged directories
        return None


def read_member(package: zipfile.ZipFile, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """At most `limit` bytes of one member; b"" if it cannot be read (bad CRC, unsupported method...)."""
    try:
        with package.open(name) as handle:
            return handle.read(limit)
    except Exception:  # BadZipFile, zlib/bz2/lzma errors, encrypted members...: all mean "unreadable"
        return b""


def members_matching(package: zipfile.ZipFile, pattern: re.Pattern[str]) -> list[str]:
    """Member names matching `pattern`, compared in lower case: Office itself ignores case in part names."""
    return [name for name in package.namelist() if pattern.search(name.lower())]


def child_part(parent: Part, name: str, data: bytes, container: str, password: str | None = None) -> Part | None:
    """Append a Part for content found inside `parent` (once: a second call with the same name is a no-op)."""
    path = f"{parent.path}/{name}"
    if any(child.path == path for child in parent.children):
        return None
    child = Part(path=path, data=data, filename=name.rsplit("/", 1)[-1], is_attachment=True,
                 depth=parent.depth + 1, container=container, password=password)
    parent.children.append(child)
    return child
