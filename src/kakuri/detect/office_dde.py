"""DDE: Office documents that start a program through Dynamic Data Exchange, without any macro.

Threat: DDEAUTO fields in Word (2017 campaigns, Emotet/Hancitor lures), DDE links in Excel workbooks,
and "=cmd|' /c powershell ...'!A1" formulas in CSV/SYLK/SpreadsheetML files that Excel evaluates on open.
Technique: a cheap byte test first (the word DDE/QUOTE, or a "app|'topic'!item" formula), then:
Word .docx/.docm via oletools msodde.process_docx (joins fields split across runs); .doc via
the WordDocument stream's field marks read here, as 8-bit and as UTF-16 text (Korean or Japanese
Word), nested fields' results joined into the outer instruction; Word 2003 XML
by joining the w:instrText runs of each field here (msodde has no reader for it); RTF via
the text of RTF {\\fldinst} groups read here; every field's "QUOTE 68 68 69 ..." character codes are decoded before matching;
Excel packages: ddeLink elements in externalLinks parts (and msodde.process_xlsx for binary .xlsb
links); BIFF8 .xls: SUPBOOK records of a DDE source ("app" 0x03 "topic", MS-XLS 2.4.271) walked here
(msodde.process_xls needs a file on disk); CSV/SYLK/SpreadsheetML ss:Formula by a formula regex
(app|'topic'!item, and DDE("app";"topic";"item")). An ordinary external workbook link (externalBook)
is not DDE and stays clean.
Emits: OFFICE_DDE (evidence: the field or link command).
Blind spots: fields assembled by macros (office_macros sees the macro), PowerPoint, DDE links in
BIFF records split by CONTINUE.
"""

from __future__ import annotations

import html
import io
import re
import struct
from typing import ClassVar, Iterable

import olefile
from oletools import msodde

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import OfficeKind, members_matching, office_parts, open_package, read_member
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec

_DDE_WORD = re.compile(rb"(?i)d\x00?d\x00?e|q\x00?u\x00?o\x00?t\x00?e")
# A .doc field begin mark (\x13) followed by DDE/QUOTE, 8-bit or UTF-16 text: msodde reads streams byte by
# byte in Python, so it only runs on documents that pass this.
_DOC_FIELD_START = re.compile(rb"(?i)\x13(?:\x00|[ \t\r\n\"\x13])*(?:d\x00?d\x00?e|q\x00?u\x00?o\x00?t\x00?e)")
_FIELD_MARK = re.compile("[\x13\x14\x15]")
_RTF_FLDINST = re.compile(rb"\\fldinst\b")
_RTF_HEX = re.compile(rb"\\'([0-9a-fA-F]{2})")
_RTF_CONTROL = re.compile(rb"\\(?:\*|[a-zA-Z]{1,32}-?\d{0,10} ?)")
_FIELD_CHARS = 2000
_MAX_TEXT_STREAM = 32 * 1024 * 1024  # three text views of it are decoded
_FIELD_DEPTH = 20
_DDE_FIELD = re.compile(r"(?is)^\s*dde(?:auto)?\b.{0,300}")
_QUOTE_CODES = re.compile(r"(?i)\bQUOTE((?:\s+\d{1,5}){2,})")
# app|topic!item where "app" starts an operand (after = + - * / & ( , ; @): a "|" inside a string literal
# (=IF(A1="x|y",Sheet1!B1,"")) is text, not DDE. The topic is quoted ('/c calc') or one word.
_DDE_FORMULA = re.compile(r"""(?i)[=+\-@][^\r\n]{0,60}?(?<![\w"'.\\])[a-z][\w.\\]{0,60}\s*\|\s*"""
                          r"""(?:'[^'\r\n]{0,300}'|[^\s'!|,;"]{1,100})\s*!\s*'?[\w$]*"""
                          r'|[=+\-@][^\r\n]{0,40}?\bDDE(?:AUTO)?\s*\(\s*""?[^"\r\n]{1,100}""?\s*[;,]\s*""?[^"\r\n]{1,300}""?')  # CSV doubles quotes
_SS_FORMULA = re.compile(rb'(?:\w+:)?Formula="([^"]{1,2000})"')
_WORD_FIELD_TOKEN = re.compile(
    rb'<(?:\w+:)?fldChar\b[^>]*?fldCharType="(begin|separate|end)"'
    rb'|<(?:\w+:)?instrText\b[^>]*>([^<]*)<'
    rb'|<(?:\w+:)?fldSimple\b[^>]*?\binstr="([^"]*)"')
_INSTRUCTION = re.compile(rb"<(?:\w+:)?instrText\b[^>]*>([^<]*)<|\b(?:\w+:)?instr\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_WORD_TEXT_MEMBER = re.compile(r"^word/(document|header\d*|footer\d*|footnotes|endnotes|glossary/document)\.xml$")
_SHEET_MEMBER = re.compile(r"^xl/(worksheets|macrosheets|intlmacrosheets)/[^/]+\.xml$")
_CELL_FORMULA = re.compile(rb"<(?:\w+:)?f(?:\s[^>]*)?>([^<]{1,2000})</(?:\w+:)?f>")
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
        return _rtf_dde(part.data) if b"\\fldinst" in part.data else []
    if kind is OfficeKind.CSV:
        return _formula_dde(part.data[:4_000_000].decode("latin-1"))
    if kind is OfficeKind.SYLK:  # cell formulas are ";E<formula>" fields, written without the "="
        text = part.data[:4_000_000].decode("latin-1")
        return _formula_dde("\n".join("=" + field[1:] for line in text.splitlines() if line.startswith("C;")
                                       for field in line.split(";")[1:] if field.startswith("E")))
    if kind is OfficeKind.FLAT:
        return _flat_dde(part.data)
    return []


def _rtf_dde(data: bytes) -> list[str]:
    """DDE instructions of RTF fields: the text of each {\\fldinst ...} group with control words, braces
    and \\'hh escapes undone (Word joins "{DD}{EAUTO}" into DDEAUTO). Hand-written: msodde.process_rtf
    parses the whole document in Python (seconds for a 2 MB RTF); this reads 2,000 bytes per field."""
    commands = []
    for match in _RTF_FLDINST.finditer(data):
        raw = data[match.end() : match.end() + _FIELD_CHARS]
        end = _rtf_group_end(raw)
        text = raw[:end].replace(b"\\\\", b"\0")  # an escaped backslash is text, not a control word
        text = _RTF_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), text)
        text = _RTF_CONTROL.sub(b"", text).replace(b"{", b"").replace(b"}", b"").replace(b"\0", b"\\")
        instruction = text.decode("latin-1").strip()
        if m := _DDE_FIELD.match(_unquote(instruction)):
            commands.append(m.group(0))
    return commands


def _rtf_group_end(raw: bytes) -> int:
    """Where the {\\fldinst group closes (nested groups counted), or the whole slice."""
    depth = 1
    for index, byte in enumerate(raw):
        if byte == 0x7B and (index == 0 or raw[index - 1] != 0x5C):
            depth += 1
        elif byte == 0x7D and (index == 0 or raw[index - 1] != 0x5C):
            depth -= 1
            if depth == 0:
                return index
    return len(raw)


def _formula_dde(text: str) -> list[str]:
    if "|" not in text and "dde" not in text.lower():
        return []
    return [m.group(0) for m in _DDE_FORMULA.finditer(text)]


def _unquote(field: str) -> str:
    """Word's QUOTE field turns character codes into text: "QUOTE 68 68 69" reads "DDE"."""
    def chars(match: re.Match[str]) -> str:
        return "".join(chr(int(code)) for code in match.group(1).split() if 0 < int(code) < 0x110000)
    return _QUOTE_CODES.sub(chars, field)


def _fields(text: str) -> list[str]:
    return [m.group(0) for line in text.splitlines() if (m := _DDE_FIELD.match(_unquote(line)))]


def _doc_dde(data: bytes) -> list[str]:
    ole = olefile.OleFileIO(data)
    stream = next((s for s in ("Workbook", "Book") if ole.exists(s)), None)
    if stream is not None:
        return _supbook_dde(ole.openstream(stream).read())
    if not ole.exists("WordDocument"):
        return []
    stream = ole.openstream("WordDocument").read(_MAX_TEXT_STREAM)
    if not _DOC_FIELD_START.search(stream):
        return []
    texts = [stream.decode("latin-1")]
    if b"\x13\x00" in stream:  # Word stores text outside the code page (Korean, Japanese...) as UTF-16
        texts += [stream[start:].decode("utf-16-le", "replace") for start in (0, 1)]
    return [m.group(0) for text in texts for field in doc_field_instructions(text)
            if (m := _DDE_FIELD.match(_unquote(field)))]


def doc_field_instructions(text: str, limit: int = 500) -> list[str]:
    """Field instructions of Word binary text: \x13 instruction \x14 result \x15, nested fields allowed.

    Hand-written rather than msodde.process_doc, which reads byte by byte, misses UTF-16 fields that do
    not start right at the mark and drops nested fields: Word evaluates a nested {QUOTE 99 109 100}
    and puts its result ("cmd") into the outer instruction, so a nested field's result counts as part
    of the outer instruction here."""
    fields: list[str] = []
    stack: list[list] = []  # [instruction pieces, reading the result?]
    position = 0
    for mark in _FIELD_MARK.finditer(text):
        segment = text[position : mark.start()][:_FIELD_CHARS]
        position = mark.end()
        if stack:
            top = stack[-1]
            if not top[1]:
                top[0].append(segment)
            elif len(stack) > 1 and not stack[-2][1]:
                stack[-2][0].append(segment)  # a nested field's result is text of the outer instruction
        char = mark.group(0)
        if char == "\x13":
            if len(stack) >= _FIELD_DEPTH:
                stack.pop(0)
            stack.append([[], False])
        elif stack and char == "\x14" and not stack[-1][1]:
            stack[-1][1] = True
            fields.append("".join(stack[-1][0])[:_FIELD_CHARS])
        elif stack and char == "\x15":
            pieces, in_result = stack.pop()
            if not in_result:
                fields.append("".join(pieces)[:_FIELD_CHARS])
        if len(fields) >= limit:
            break
    return fields


def _supbook_dde(workbook: bytes) -> list[str]:
    """DDE sources of a BIFF8 workbook: SUPBOOK records with ctab 0 and a virtPath "app\x03topic",
    followed by EXTERNNAME records naming the item (MS-XLS 2.4.271, 2.4.106)."""
    commands: list[str] = []
    offset, source = 0, None
    while offset + 4 <= len(workbook):
        rec_type, length = struct.unpack_from("<HH", workbook, offset)
        body = workbook[offset + 4 : offset + 4 + length]
        offset += 4 + length
        if rec_type == 0x000A:  # EOF of the globals: links live there only
            break
        if rec_type == 0x01AE:
            source = _dde_source(body)
            if source:
                commands.append(source)
        elif rec_type == 0x0023 and source and len(body) >= 7:  # EXTERNNAME: the DDE item
            item = _biff_string(body[6], body[7:])
            if item and item != "StdDocumentName":
                commands[-1] = f"{source}!{item}"
        elif rec_type != 0x0023:
            source = None
    return commands


def _dde_source(body: bytes) -> str | None:
    if len(body) < 5:
        return None
    ctab, cch = struct.unpack_from("<HH", body, 0)
    if ctab != 0 or not 0 < cch <= 0xFF:
        return None
    path = _biff_string(cch, body[4:])
    if "\x03" not in path:
        return None
    app, _, topic = path.partition("\x03")
    return f"{app}|'{topic}'"


def _biff_string(count: int, body: bytes) -> str:
    """XLUnicodeStringNoCch: a flag byte (bit 0: UTF-16) and `count` characters."""
    if not body:
        return ""
    wide = body[0] & 0x01
    raw = body[1 : 1 + count * (2 if wide else 1)]
    return raw.decode("utf-16-le" if wide else "latin-1", "replace")


def _flat_dde(data: bytes) -> list[str]:
    """Word 2003 XML fields and SpreadsheetML formulas (Flat OPC is rebuilt as a package by office_flat)."""
    data = data[:16_000_000]
    commands = []
    if b"instr" in data and _may_have_dde_field(data):
        commands += [m.group(0) for field in _word_fields(data) if (m := _DDE_FIELD.match(_unquote(field)))]
    if b"Formula=" in data:
        formulas = "\n".join(html.unescape(f.decode("utf-8", "replace")) for f in _SS_FORMULA.findall(data))
        commands += _formula_dde(formulas)
    return commands


def _word_fields(xml: bytes) -> list[str]:
    """Field instructions of WordprocessingML, each joined across its runs ("DD" + "EAUTO" is DDEAUTO);
    a nested field ({QUOTE ...} inside DDEAUTO) counts as its own instruction and as part of the outer."""
    fields: list[str] = []
    open_fields: list[list[str]] = []  # instruction pieces of each field still before its "separate"
    stack: list[list[str] | None] = []  # every begun field; None once its instruction is complete
    for mark, instr_text, simple in _WORD_FIELD_TOKEN.findall(xml):
        if simple:
            fields.append(html.unescape(simple.decode("utf-8", "replace")))
        elif instr_text:
            text = html.unescape(instr_text.decode("utf-8", "replace"))
            for pieces in open_fields:
                pieces.append(text)
        elif mark == b"begin":
            pieces: list[str] = []
            stack.append(pieces)
            open_fields.append(pieces)
        elif stack:
            pieces = stack[-1]
            if pieces is not None:
                fields.append("".join(pieces))
                open_fields = [f for f in open_fields if f is not pieces]
                stack[-1] = None
            if mark == b"end":
                stack.pop()
    return fields + ["".join(pieces) for pieces in open_fields]


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
        for name in members_matching(package, _SHEET_MEMBER):  # a DDE formula typed into a cell's <f>
            xml = read_member(package, name)
            if b"|" in xml:
                formulas = "\n".join("=" + html.unescape(f.decode("utf-8", "replace")) for f in _CELL_FORMULA.findall(xml))
                commands += _formula_dde(formulas)
        for name in members_matching(package, re.compile(r"externallinks/[^/]+\.xml$")):
            for link in _DDE_LINK.findall(read_member(package, name)):
                attrs = {k.decode(): v.decode("utf-8", "replace") for k, v in _ATTR.findall(link)}
                commands.append(f"{attrs.get('ddeService', '')}|{attrs.get('ddeTopic', '')}")
        if not commands and members_matching(package, re.compile(r"externallinks/[^/]+\.bin$")):
            commands = [c for c in msodde.process_xlsx(io.BytesIO(data)).splitlines() if c.strip()]
        return commands
