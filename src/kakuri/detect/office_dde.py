"""DDE: Office documents that start a program through Dynamic Data Exchange, without any macro.

Threat: DDEAUTO fields in Word (2017 campaigns, Emotet/Hancitor lures), DDE links in Excel workbooks,
and "=cmd|' /c powershell ...'!A1" formulas in CSV/SYLK files that Excel evaluates on open.
Technique: a cheap byte test first (the word DDE/QUOTE, or a "app|'topic'!item" formula), then:
Word .docx/.docm via oletools msodde.process_docx (joins fields split across runs, decodes QUOTE
char-code obfuscation); .doc via msodde.process_doc; RTF via msodde.process_rtf; Excel packages:
ddeLink elements in externalLinks parts (and msodde.process_xlsx for binary .xlsb links); CSV/SYLK
by a formula regex. An ordinary external workbook link (externalBook) is not DDE and stays clean.
Emits: OFFICE_DDE (evidence: the field or link command).
Blind spots: DDE links in BIFF8 .xls (SUPBOOK records; msodde needs a file on disk for those),
fields assembled by macros (office_macros sees the macro), PowerPoint.
"""

from __future__ import annotations

import io
import re
from typing import ClassVar, Iterable

import olefile
from oletools import msodde

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import OfficeKind, members_matching, office_parts, open_package, read_member
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec

_DDE_WORD = re.compile(rb"(?i)d\x00?d\x00?e|q\x00?u\x00?o\x00?t\x00?e")
# A .doc field begin mark (\x13) followed by DDE/QUOTE, 8-bit or UTF-16 text: msodde reads streams byte by
# byte in Python, so it only runs on documents that pass this.
_DOC_FIELD_START = re.compile(rb"(?i)\x13(?:\x00|[ \t\r\n\"])*(?:d\x00?d\x00?e|q\x00?u\x00?o\x00?t\x00?e)")
_DDE_FIELD = re.compile(r"(?is)^\s*dde(?:auto)?\b.{0,300}")
_DDE_FORMULA = re.compile(r"""(?i)[=+\-@][^\r\n,;|]{0,40}?\b[\w.\\]+\s*\|\s*'?[^'\r\n|]{0,300}'?\s*!\s*'?[\w$]*""")
_INSTRUCTION = re.compile(rb"<(?:\w+:)?instrText\b[^>]*>([^<]*)<|\b(?:\w+:)?instr\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_WORD_TEXT_MEMBER = re.compile(r"^word/(document|header\d*|footer\d*|footnotes|endnotes|glossary/document)\.xml$")
_DDE_LINK = re.compile(rb"<(?:\w+:)?ddeLink\b[^>]*")
_ATTR = re.compile(rb'(ddeService|ddeTopic)="([^"]*)"')


class OfficeDde:
    name: ClassVar[str] = "office_dde"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("OFFICE_DDE", "office", "Office document or spreadsheet text that runs a command through DDE"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in office_parts(message):
            try:
                commands = _dde_commands(part, kind)
            except Exception:  # msodde on hostile input: unreadable content is office_macros' finding
                continue
            if commands:
                yield Finding("OFFICE_DDE", self.name, part.path,
                              {"commands": " | ".join(c.strip()[:200] for c in commands[:5]), "format": kind.value})


def _dde_commands(part: Part, kind: OfficeKind) -> list[str]:
    if kind is OfficeKind.OOXML:
        return _package_dde(part.data)
    if kind is OfficeKind.OLE:
        return _doc_dde(part.data)
    if kind is OfficeKind.RTF:
        if not _DDE_WORD.search(part.data):
            return []
        return _fields(msodde.process_rtf(io.BytesIO(part.data), msodde.FIELD_FILTER_DDE))
    if kind in (OfficeKind.CSV, OfficeKind.SYLK):
        text = part.data[:4_000_000].decode("latin-1")
        return [m.group(0) for m in _DDE_FORMULA.finditer(text)] if "|" in text else []
    return []


def _fields(text: str) -> list[str]:
    return [m.group(0) for line in text.splitlines() if (m := _DDE_FIELD.match(line))]


def _doc_dde(data: bytes) -> list[str]:
    ole = olefile.OleFileIO(data)
    if not ole.exists("WordDocument") or not _DOC_FIELD_START.search(ole.openstream("WordDocument").read()):
        return []
    return _fields(msodde.process_doc(ole))


def _may_have_dde_field(xml: bytes) -> bool:
    """Field instructions joined across runs ("D" + "DE" + "AUTO" is still DDEAUTO to Word)."""
    if b"instr" not in xml:
        return False
    instructions = b"".join(b"".join(groups) for groups in _INSTRUCTION.findall(xml))
    return _DDE_WORD.search(instructions) is not None


def _package_dde(data: bytes) -> list[str]:
    package = open_package(data)
    if package is None:
        return []
    with package:
        word_parts = members_matching(package, _WORD_TEXT_MEMBER)
        if any(_may_have_dde_field(read_member(package, name)) for name in word_parts):
            return _fields(msodde.process_docx(io.BytesIO(data), msodde.FIELD_FILTER_DDE))
        commands = []
        for name in members_matching(package, re.compile(r"externallinks/[^/]+\.xml$")):
            for link in _DDE_LINK.findall(read_member(package, name)):
                attrs = {k.decode(): v.decode("utf-8", "replace") for k, v in _ATTR.findall(link)}
                commands.append(f"{attrs.get('ddeService', '')}|{attrs.get('ddeTopic', '')}")
        if not commands and members_matching(package, re.compile(r"externallinks/[^/]+\.bin$")):
            commands = [c for c in msodde.process_xlsx(io.BytesIO(data)).splitlines() if c.strip()]
        return commands
