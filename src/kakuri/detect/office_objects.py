"""Objects embedded in Office documents and RTF: packaged files and exploitable OLE classes.

Threat: a document that carries the payload itself: an OLE Package (Ole10Native) holding an .exe, a
script or a .lnk that the lure asks to double-click; an RTF whose \\object\\objdata is such a package or
an Equation Editor object (CVE-2017-11882/CVE-2018-0802); OOXML embeddings/*.bin doing the same.
Technique: olefile + oletools oleobj.OleNativeStream for every \\x01Ole10Native stream of an OLE file;
storage CLSIDs checked against oletools' KNOWN_CLSIDS entries that name a CVE; rtfobj for RTF
(only when the RTF contains "\\obj", rtfobj being a pure-Python parser). OOXML embeddings are appended
to `Part.children` (container "ole") and analysed as OLE parts on the same walk; packaged files, and
the "Package"/"CONTENTS" streams in which OLE keeps an embedded document or file, are appended too, so
file-type, IOC and macro detectors see them. PowerPoint 97-2003 keeps its objects compressed inside
the "PowerPoint Document" stream (ExOleObjStg records): they are decompressed into children first.
Emits: OFFICE_EMBEDDED_EXECUTABLE (packaged PE/script/shortcut), OFFICE_EMBEDDED_PACKAGE (a packaged
file of a harmless type: scored near zero), OFFICE_EXPLOIT_OBJECT (object class known from Office exploits),
OFFICE_RTF_OBJECT (RTF with an embedded object: rare in ordinary mail).
Blind spots: payloads inside ActiveX controls, OLE2 objects nested in RTF that are not packages, and
objects hidden by RTF obfuscation rtfobj cannot undo.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import ClassVar, Iterable

import olefile
from oletools import oleobj, rtfobj
from oletools.common.clsid import KNOWN_CLSIDS

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import (EMBEDDED_CONTAINER, OLE_MAGIC, OfficeKind, child_part, members_matching,
                                         office_parts, open_package, read_member)
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec

# Classes oletools documents as exploit vectors (Equation Editor, monikers, MSCOMCTL...).
EXPLOIT_CLSIDS = {clsid.upper(): text for clsid, text in KNOWN_CLSIDS.items() if "CVE" in text}
_DANGEROUS_EXTENSIONS = frozenset(
    "exe dll scr com pif cpl msi msp msc bat cmd ps1 psm1 vbs vbe js jse wsf wsh wsc hta sct lnk url inf reg "
    "jar chm iso img vhd vhdx application gadget appref-ms settingcontent-ms xll library-ms".split())
_LNK_MAGIC = bytes.fromhex("4C0000000114020000000000C000000000000046")
_EMBEDDING_MEMBER = re.compile(r"(^|/)embeddings/[^/]+$")
# An \obj... control word; "\\obj" is the text "\obj" (RTF documentation, code samples): rtfobj is a
# pure-Python parser that takes seconds on a 2 MB RTF, so it only runs on real object groups.
_RTF_OBJECT_WORD = re.compile(rb"(?<!\\)\\obj[a-z]")
_EX_OLE_OBJ_STG = 0x1011
_EMBEDDED_FILE_STREAMS = ("package", "contents")
_MAX_PPT_STREAM = 64 * 1024 * 1024
_MAX_OBJECT_BYTES = 32 * 1024 * 1024


def payload_danger(filename: str, data: bytes) -> str | None:
    """Why a packaged file would run code when opened, or None for documents, images, text..."""
    if data[:2] == b"MZ":
        return "PE executable"
    if data[:20] == _LNK_MAGIC:
        return "Windows shortcut"
    if data[:4] == b"\x7fELF":
        return "ELF executable"
    extension = filename.lower().rstrip(". ").rsplit(".", 1)[-1] if "." in filename else ""
    if extension in _DANGEROUS_EXTENSIONS:
        return f".{extension} file"
    return None


class OfficeObjects:
    name: ClassVar[str] = "office_objects"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("OFFICE_EMBEDDED_EXECUTABLE", "office", "Office/RTF document with an embedded executable, script or shortcut"),
        SymbolSpec("OFFICE_EMBEDDED_PACKAGE", "office", "Office/RTF document with an embedded file of a harmless type"),
        SymbolSpec("OFFICE_EXPLOIT_OBJECT", "office", "Embedded OLE object of a class used by Office exploits (e.g. Equation Editor)"),
        SymbolSpec("OFFICE_RTF_OBJECT", "office", "RTF document with embedded objects"),
    )

    def __init__(self, max_objects: int = 50) -> None:
        self.max_objects = max_objects

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in office_parts(message):
            if kind is OfficeKind.OOXML:
                self._extract_embeddings(part)
            elif kind is OfficeKind.OLE:
                yield from self._scan_ole(part)
            elif kind is OfficeKind.RTF and _RTF_OBJECT_WORD.search(part.data):
                yield from self._scan_rtf(part)

    def _extract_embeddings(self, part: Part) -> None:
        package = open_package(part.data)
        if package is None:
            return
        with package:
            for name in members_matching(package, _EMBEDDING_MEMBER)[: self.max_objects]:
                data = read_member(package, name)
                if data:
                    child_part(part, name, data, EMBEDDED_CONTAINER)

    def _scan_ole(self, part: Part) -> Iterable[Finding]:
        try:
            ole = olefile.OleFileIO(part.data)
            entries = ole.listdir(streams=True, storages=True)[: 10 * self.max_objects]
        except Exception:  # not readable: office_macros reports OFFICE_UNPARSEABLE
            return
        if ole.exists("PowerPoint Document"):
            self._extract_ppt_objects(part, ole)
        for path in [[]] + entries:
            clsid = (ole.root.clsid if not path else ole.getclsid(path) or "").upper()
            if clsid in EXPLOIT_CLSIDS:
                yield Finding("OFFICE_EXPLOIT_OBJECT", self.name, part.path,
                              {"clsid": clsid, "class": EXPLOIT_CLSIDS[clsid][:120], "storage": "/".join(path) or "root"})
            if path and path[-1] == "\x01Ole10Native":
                yield from self._package(part, _native_stream(ole, path))
            elif path and path[-1].lower() in _EMBEDDED_FILE_STREAMS and ole.get_type(path) == olefile.STGTY_STREAM:
                # An embedded document (an .xlsm inside a .doc) or a file object's bytes: scanned as its own part.
                data = ole.openstream(path).read(_MAX_OBJECT_BYTES)
                if data:
                    child_part(part, "/".join(path), data, EMBEDDED_CONTAINER)

    def _extract_ppt_objects(self, part: Part, ole: olefile.OleFileIO) -> None:
        """PowerPoint 97-2003 keeps embedded objects (and its VBA project) inside the "PowerPoint Document"
        stream as ExOleObjStg records, zlib-compressed: no OLE storage shows them, so a scanner walking
        storages sees nothing. Each decompressed compound file becomes a child part."""
        try:
            stream = ole.openstream("PowerPoint Document").read(_MAX_PPT_STREAM)
        except Exception:  # unreadable stream: office_macros reports OFFICE_UNPARSEABLE
            return
        for index, data in enumerate(ppt_ole_objects(stream, self.max_objects), 1):
            child_part(part, f"ExOleObjStg{index}", data, EMBEDDED_CONTAINER)

    def _scan_rtf(self, part: Part) -> Iterable[Finding]:
        parser = rtfobj.RtfObjParser(part.data)
        try:
            parser.parse()
        except Exception as exc:  # rtfobj on hostile input; what it found so far still counts
            if not parser.objects:
                yield Finding("OFFICE_RTF_OBJECT", self.name, part.path, {"error": type(exc).__name__})
                return
        classes = []
        for obj in parser.objects[: self.max_objects]:
            class_name = obj.class_name.decode("latin-1", "replace") if obj.is_ole and obj.class_name else ""
            classes.append(class_name or ("OLE object" if obj.is_ole else "raw data"))
            clsid = (obj.clsid or "").upper()
            if clsid in EXPLOIT_CLSIDS or class_name.lower().startswith("equation"):
                yield Finding("OFFICE_EXPLOIT_OBJECT", self.name, part.path,
                              {"clsid": clsid, "class": EXPLOIT_CLSIDS.get(clsid, class_name)[:120], "storage": "rtf"})
            if obj.is_package:
                yield from self._package(part, (_package_names(obj), bytes(obj.olepkgdata or b"")))
        if classes:
            yield Finding("OFFICE_RTF_OBJECT", self.name, part.path, {"objects": ", ".join(classes)[:300]})

    def _package(self, part: Part, package: tuple[list[str], bytes] | None) -> Iterable[Finding]:
        """One packaged file. The packager writes it to its temp path and opens it there by extension, so
        the label, the source path and the temp path all count (a ".pdf" label can hide an ".exe")."""
        if package is None:
            return
        names, payload = package
        danger = next((d for name in names if (d := payload_danger(name, payload))), None)
        evidence = {"filename": names[0][:200], "size": str(len(payload))}
        if len(set(names)) > 1:
            evidence["paths"] = " | ".join(dict.fromkeys(names[1:]))[:300]
        if danger:
            evidence["kind"] = danger
        yield Finding("OFFICE_EMBEDDED_EXECUTABLE" if danger else "OFFICE_EMBEDDED_PACKAGE", self.name, part.path, evidence)
        if payload:
            on_disk = names[-1].replace("\\", "/").rsplit("/", 1)[-1] or "package.bin"
            child_part(part, on_disk, payload, EMBEDDED_CONTAINER)


def ppt_ole_objects(stream: bytes, limit: int) -> list[bytes]:
    """Compound files stored in ExOleObjStg records (MS-PPT 2.10.34) of a PowerPoint Document stream.

    Hand-written: a flat walk over the record headers (version 0xF marks a container, whose children
    follow its header) costs microseconds; oletools' ppt_record_parser needs a file and builds an object
    per record. Instance 1 = compressed: a 4-byte decompressed size, then zlib data."""
    found: list[bytes] = []
    offset, budget = 0, _MAX_OBJECT_BYTES * 2
    while offset + 8 <= len(stream) and len(found) < limit:
        ver_instance, rec_type, length = struct.unpack_from("<HHI", stream, offset)
        if ver_instance & 0x000F == 0x000F:  # container: its records follow
            offset += 8
            continue
        body = stream[offset + 8 : offset + 8 + length]
        offset += 8 + length
        if rec_type != _EX_OLE_OBJ_STG:
            continue
        data = body
        if ver_instance >> 4 == 1 and len(body) > 4:
            try:
                data = zlib.decompressobj().decompress(body[4:], min(_MAX_OBJECT_BYTES, budget))
            except zlib.error:
                continue
        if data[:8] == OLE_MAGIC:
            found.append(data)
            budget -= len(data)
            if budget <= 0:  # many objects inflating to the cap each: stop, the rest is a bomb
                break
    return found


def _native_stream(ole: olefile.OleFileIO, path: list[str]) -> tuple[list[str], bytes] | None:
    try:
        native = oleobj.OleNativeStream(ole.openstream(path).read())
    except Exception:  # truncated package header: nothing to show
        return None
    return _package_names(native), bytes(native.data or b"")


def _package_names(native) -> list[str]:
    """Label first, the path the file is written to last (oleobj and rtfobj use the same attribute names)."""
    names = [_text(getattr(native, attr, None)) for attr in ("filename", "src_path", "temp_path")]
    return [name for name in names if name] or ["package.bin"]


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1", "replace")
    return value or ""
