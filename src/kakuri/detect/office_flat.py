"""One-file Office formats: what they carry as base64 text becomes parts the other detectors read.

Threat: macros, objects and packages hidden in Office files that are not zips or compound files, so a
scanner looking for "PK" or an OLE header passes them: Word 2003 XML (WordprocessingML,
<w:wordDocument>) with a base64 <w:binData w:name="editdata.mso"> (an ActiveMime blob: a zlib-compressed
VBA project) or "oledata.mso" (embedded objects), Word 2007+ Flat OPC (<pkg:package>, a whole .docm
as XML), and .mht/MHTML "web page" documents whose MIME parts carry the same ActiveMime blob. Word and
Excel open all of them whatever the extension (.doc, .xml, .mht).
Technique: recognised by content (`office_format.office_kind` -> FLAT); then, by regex over the text
(these files are flat: no nesting to walk), binData/binaryData payloads are base64-decoded, ActiveMime
unwrapped (oletools' offsets, our size cap), and a Flat OPC package is rebuilt as the zip it
stands for (with a [Content_Types].xml made from its parts' content types). The results are appended
to `Part.children` (container "office-flat"), so office_macros, office_objects, office_dde,
office_xlm and office_links scan them as ordinary .doc/.docm parts; this detector runs before them.
SpreadsheetML (<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">) has no binary parts:
office_dde reads its formulas as text.
Emits: nothing itself; findings come from the detectors that read the extracted parts.
Blind spots: binary parts over `max_part_bytes`, more than `max_parts` of them, and MHT bodies in
encodings other than base64/quoted-printable.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import html
import io
import re
import struct
import zipfile
import zlib
from typing import ClassVar, Iterable

import olefile

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import OLE_MAGIC, OfficeKind, child_part, office_parts
from kakuri.model import Finding, ParsedMessage, SymbolSpec

FLAT_CONTAINER = "office-flat"
_BIN_DATA = re.compile(rb'<(\w+:)?binData\b[^>]*?\bname="([^"]*)"[^>]*>([^<]*)</', re.IGNORECASE)
_PKG_PART = re.compile(rb'<(\w+):part\b([^>]*)>\s*<\1:(xmlData|binaryData)\b[^>]*>(.*?)</\1:\3>', re.DOTALL)
_PKG_ATTR = re.compile(rb'(\w+):(name|contentType)="([^"]*)"')
_ACTIVEMIME = b"ActiveMime"


class OfficeFlat:
    name: ClassVar[str] = "office_flat"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = ()

    def __init__(self, max_parts: int = 50, max_part_bytes: int = 20_000_000) -> None:
        self.max_parts = max_parts
        self.max_part_bytes = max_part_bytes

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in list(office_parts(message)):
            if kind is not OfficeKind.FLAT or any(c.container == FLAT_CONTAINER for c in part.children):
                continue
            for name, data in self._payloads(part.data):
                child_part(part, name, data, FLAT_CONTAINER)
        return ()

    def _payloads(self, data: bytes) -> list[tuple[str, bytes]]:
        head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"<"):
            found = _flat_opc(data, self.max_parts) if b":package" in head else []
            found += [(name, blob) for name, blob in _bin_data(data, self.max_parts)]
        else:
            found = _mht_parts(data, self.max_parts)
        out = []
        for name, blob in found:
            if 0 < len(blob) <= self.max_part_bytes:
                plain = _unwrap(blob, self.max_part_bytes)
                out += _object_pool(plain, self.max_part_bytes) if name.lower() == "oledata.mso" else [(name, plain)]
        return out[: self.max_parts]


def _b64(text: bytes) -> bytes:
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", text), validate=False)
    except (binascii.Error, ValueError):
        return b""


def _unwrap(blob: bytes, limit: int) -> bytes:
    """ActiveMime (Word/Excel's "MSO" wrapper: header, then a zlib-compressed compound file) -> the OLE file.

    The offsets are oletools' (`olevba.mso_file_extract`: the header's own at 0x1E + 46, else Word's 0x32
    or Excel's 0x22A); decompressed here with a cap, as olevba's unbounded zlib.decompress would inflate
    a bomb whole."""
    if not blob.startswith(_ACTIVEMIME):
        return blob
    offsets = [0x32, 0x22A]
    if len(blob) >= 0x20:
        offsets.insert(0, struct.unpack_from("<H", blob, 0x1E)[0] + 46)
    for start in offsets:
        try:
            plain = zlib.decompressobj().decompress(blob[start:], limit)
        except zlib.error:
            continue
        if plain:
            return plain
    return blob  # damaged wrapper: keep the raw blob, office_macros reports what it can


def _object_pool(ole_data: bytes, limit: int) -> list[tuple[str, bytes]]:
    """Word 2003 XML's "oledata.mso": one stream per embedded object, each a 4-byte size and a zlib-compressed
    compound file (the object's storage, e.g. a Package with its Ole10Native stream)."""
    try:
        ole = olefile.OleFileIO(ole_data)
        streams = ole.listdir(streams=True, storages=False)[:50]
        out = []
        for path in streams:
            raw = ole.openstream(path).read(limit)
            if raw[4:5] == b"x":
                data = zlib.decompressobj().decompress(raw[4:], limit)
                if data[:8] == OLE_MAGIC:
                    out.append(("/".join(path), data))
        return out or [("oledata.mso", ole_data)]
    except Exception:  # damaged pool: keep it whole for the other detectors
        return [("oledata.mso", ole_data)]


def _bin_data(data: bytes, limit: int) -> list[tuple[str, bytes]]:
    """<w:binData w:name="editdata.mso"> (VBA), "oledata.mso" (objects), images... of Word 2003 XML."""
    if b"binData" not in data:
        return []
    out = []
    for match in _BIN_DATA.finditer(data):
        blob = _b64(match.group(3))
        name = match.group(2).decode("utf-8", "replace").rsplit("/", 1)[-1] or "binData"
        if blob.startswith((_ACTIVEMIME, OLE_MAGIC)) or name.lower().endswith(".mso"):
            out.append((name, blob))
        if len(out) >= limit:
            break
    return out


def _flat_opc(data: bytes, limit: int) -> list[tuple[str, bytes]]:
    """A Flat OPC document as the zip package it describes (Word's "Word XML Document" save format)."""
    members: dict[str, bytes] = {}
    types: dict[str, str] = {}
    for match in _PKG_PART.finditer(data):
        attrs = {key.decode(): value.decode("utf-8", "replace") for _p, key, value in _PKG_ATTR.findall(match.group(2))}
        name = attrs.get("name", "").lstrip("/")
        if not name or len(members) >= 10 * limit:
            continue
        body = match.group(4)
        members[name] = _b64(body) if match.group(3) == b"binaryData" else body.strip()
        types[name] = html.escape(attrs.get("contentType", "application/octet-stream"), quote=True)
    if not members:
        return []
    overrides = "".join(f'<Override PartName="/{name}" ContentType="{ctype}"/>' for name, ctype in types.items())
    content_types = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                     f'package/2006/content-types">{overrides}</Types>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", content_types)
        for name, body in members.items():
            package.writestr(name, body)
    return [("package.zip", out.getvalue())]


def _mht_parts(data: bytes, limit: int) -> list[tuple[str, bytes]]:
    """MIME parts of an MHT document that hold an ActiveMime or compound-file blob."""
    try:
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)
    except Exception:  # not parseable as MIME: nothing to extract
        return []
    out = []
    for index, sub in enumerate(message.walk()):
        if sub.is_multipart():
            continue
        payload = sub.get_payload(decode=True) or b""
        if payload.startswith((_ACTIVEMIME, OLE_MAGIC)):
            location = str(sub.get("Content-Location", "") or f"part{index}").replace("\\", "/")
            out.append((location.rsplit("/", 1)[-1] or f"part{index}", payload))
        if len(out) >= limit:
            break
    return out
