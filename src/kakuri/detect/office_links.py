"""Office documents that fetch a template or an object from a remote server when opened.

Threat: remote template injection (a clean-looking .docx whose word/_rels/settings.xml.rels points
attachedTemplate at http(s):// or a UNC path serving a macro .dotm or an RTF exploit), the same
through subDocument/frame relationships, externally linked OLE objects (CVE-2017-0199 style HTA
links), RTF {\\*\\template URL}, Word 2003 XML <w:attachedTemplate w:val="URL"> (Flat OPC documents are
rebuilt as packages by office_flat), and Excel web queries (.iqy) that pull a remote page into Excel.
Technique: read the relationship parts of the package (regex over the small *.rels XML) and keep
TargetMode="External" targets that are remote (http, https, ftp, UNC \\\\host or file://host). A local
template path (file:///C:/Users/.../Normal.dotm, in every document made from a template), hyperlinks,
external images and ordinary external workbook links (externalLinkPath) are not reported.
Emits: OFFICE_EXTERNAL_TEMPLATE (template, subdocument or frame loaded from a remote target),
OFFICE_EXTERNAL_OBJECT (OLE object or web query with a remote source).
Binary .doc: the attached template is string 1 of the SttbfAssoc table the FIB points at.
Blind spots: targets obfuscated beyond URL syntax.
"""

from __future__ import annotations

import html
import re
import struct
from typing import ClassVar, Iterable

import olefile

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import OfficeKind, members_matching, office_parts, open_package, read_member
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec

_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb'(\w+)\s*=\s*"([^"]*)"')
_TEMPLATE_TYPES = ("/attachedtemplate", "/subdocument", "/frame")
_OBJECT_TYPES = ("/oleobject",)
_REMOTE_PREFIXES = ("http://", "https://", "ftp://", "mhtml:", "\\\\", "//")
_DRIVE = re.compile(r"[A-Za-z]:")
_RTF_TEMPLATE = re.compile(rb"\{\\\*\\template\s+([^}]{1,2000})\}")
_WORD2003_TEMPLATE = re.compile(rb'<(?:\w+:)?attachedTemplate\b[^>]*?\bval="([^"]{1,2000})"')
_IQY_URL = re.compile(rb"(?im)^\s*((?:https?|ftp)://\S+)")


def is_remote_target(target: str) -> bool:
    """http(s)/ftp URLs, UNC paths and file: URLs naming a host; file:///C:/... is local."""
    target = html.unescape(target).strip()
    if target.lower().startswith(_REMOTE_PREFIXES):
        return True
    if not target.lower().startswith("file:"):
        return False
    path = target[5:].lstrip("/")
    slashes = len(target) - 5 - len(path)
    return path.startswith("\\\\") or (slashes == 2 and not _DRIVE.match(path))


class OfficeLinks:
    name: ClassVar[str] = "office_links"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("OFFICE_EXTERNAL_TEMPLATE", "office", "Document loads its template, a subdocument or a frame from a remote server"),
        SymbolSpec("OFFICE_EXTERNAL_OBJECT", "office", "Document links an OLE object or a web query to a remote source"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in office_parts(message):
            if kind is OfficeKind.OOXML:
                yield from self._scan_package(part)
            elif kind is OfficeKind.RTF and b"\\template" in part.data:
                for target in _RTF_TEMPLATE.findall(part.data[:8_000_000]):
                    text = target.decode("latin-1").strip()
                    if is_remote_target(text):
                        yield Finding("OFFICE_EXTERNAL_TEMPLATE", self.name, part.path, {"target": text[:300], "via": "rtf template"})
            elif kind is OfficeKind.OLE and part.true_type in ("doc", "ole", None):
                target = doc_attached_template(part.data)
                if target and is_remote_target(target):
                    yield Finding("OFFICE_EXTERNAL_TEMPLATE", self.name, part.path, {"target": target[:300], "via": "doc template"})
            elif kind is OfficeKind.FLAT and b"attachedTemplate" in part.data:
                for target in _WORD2003_TEMPLATE.findall(part.data[:16_000_000]):
                    text = html.unescape(target.decode("utf-8", "replace")).strip()
                    if is_remote_target(text):
                        yield Finding("OFFICE_EXTERNAL_TEMPLATE", self.name, part.path, {"target": text[:300], "via": "word 2003 xml"})
            elif kind is OfficeKind.IQY:
                urls = _IQY_URL.findall(part.data[:65536])
                if urls:
                    yield Finding("OFFICE_EXTERNAL_OBJECT", self.name, part.path,
                                  {"target": urls[0].decode("latin-1")[:300], "via": "web query"})

    def _scan_package(self, part: Part) -> Iterable[Finding]:
        package = open_package(part.data)
        if package is None:
            return
        with package:
            for rels_name in members_matching(package, re.compile(r"\.rels$")):
                for rel_type, target in _external_relationships(read_member(package, rels_name, 1_000_000)):
                    if not is_remote_target(target):
                        continue
                    evidence = {"target": target[:300], "via": rel_type.rsplit("/", 1)[-1], "rels": rels_name}
                    if rel_type.lower().endswith(_TEMPLATE_TYPES):
                        yield Finding("OFFICE_EXTERNAL_TEMPLATE", self.name, part.path, evidence)
                    elif rel_type.lower().endswith(_OBJECT_TYPES):
                        yield Finding("OFFICE_EXTERNAL_OBJECT", self.name, part.path, evidence)


def doc_attached_template(data: bytes) -> str:
    """The attached template of a Word 97-2003 .doc: string 1 (ibstAssocDot) of the SttbfAssoc that the
    FIB locates in the table stream (MS-DOC 2.5.10: FibRgFcLcb97 fcSttbfAssoc at FIB offset 410). "" if none."""
    try:
        ole = olefile.OleFileIO(data)
        if not ole.exists("WordDocument"):
            return ""
        fib = ole.openstream("WordDocument").read(1024)
        if len(fib) < 418:
            return ""
        table = "1Table" if struct.unpack_from("<H", fib, 10)[0] & 0x0200 else "0Table"
        fc, lcb = struct.unpack_from("<II", fib, 410)
        if not ole.exists(table) or not 6 <= lcb <= 65536:
            return ""
        sttb = ole.openstream(table).read()[fc : fc + lcb]
        if sttb[:2] != b"\xff\xff":  # SttbfAssoc is always extended (UTF-16)
            return ""
        count, offset, strings = struct.unpack_from("<H", sttb, 2)[0], 6, []
        for _ in range(min(count, 18)):
            (cch,) = struct.unpack_from("<H", sttb, offset)
            strings.append(sttb[offset + 2 : offset + 2 + 2 * cch].decode("utf-16-le", "replace"))
            offset += 2 + 2 * cch
        return strings[1] if len(strings) > 1 else ""
    except Exception:  # damaged FIB or table: no template to report
        return ""


def _external_relationships(xml: bytes) -> Iterable[tuple[str, str]]:
    for match in _RELATIONSHIP.finditer(xml):
        attrs = {k.decode().lower(): v.decode("utf-8", "replace") for k, v in _ATTRIBUTE.findall(match.group(1))}
        if attrs.get("targetmode", "").lower() == "external":
            yield attrs.get("type", ""), html.unescape(attrs.get("target", ""))
