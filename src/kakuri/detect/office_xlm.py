"""Excel 4.0 (XLM) macro sheets, in every container Excel reads them from.

Threat: XLM macros (Emotet, Qakbot, Dridex 2020-2022): a (very) hidden macro sheet whose formulas
EXEC/CALL/REGISTER URLDownloadToFileA, started by a defined name Auto_Open.
Technique, per container:
- BIFF8 .xls: a few-line walk of the workbook globals finds BOUNDSHEET records of type "macro sheet"
  and Auto_Open names (built-in LABEL code 1, or a user name starting "Auto_Open", which Excel also
  runs) without oletools; only then oletools' plugin_biff (oledump) decodes the formulas for
  evidence. olevba would run plugin_biff on every .xls and only when the root CLSID says Excel, which a
  generator can leave empty.
- .xlsm/.xltm/.xlam: xl/macrosheets/*.xml (and intlmacrosheets), formulas from <f>, names from workbook.xml.
- .xlsb: binary macro sheet parts; Auto_Open is found as the UTF-16 name in workbook.bin.
- SYLK: an "O;...;E" record declares a macro sheet; C records carry ;E formulas, NN records names.
oletools has no reader for the OOXML/xlsb/SYLK cases usable without XLMMacroDeobfuscator (not on PyPI
in a maintained form), and each is a zip listing or a text scan, so they are read here.
Emits: MACRO_XLM (evidence: sheets, functions), MACRO_AUTOEXEC (Auto_Open name).
Blind spots: formulas whose function names are built at run time (FORMULA() writing EXEC into a
cell) show only FORMULA; xlsb formulas are not decoded (any xlsb macro sheet fires regardless).
"""

from __future__ import annotations

import re
import struct
from typing import ClassVar, Iterable

import olefile
from oletools.thirdparty.oledump.plugin_biff import cBIFF

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import OfficeKind, members_matching, office_parts, open_package, read_member
from kakuri.detect.office_macros import MACRO_AUTOEXEC_SPEC
from kakuri.model import Finding, ParsedMessage, SymbolSpec

_DANGEROUS_FUNCTIONS = re.compile(
    r"(?i)\b(EXEC|CALL|REGISTER|REGISTER\.ID|URLDownloadToFileA?|ShellExecuteA?|RUN|FORMULA(?:\.FILL)?|"
    r"FOPEN|FWRITE(?:LN)?|FILE\.DELETE|ALERT|HALT|GET\.WORKSPACE|GET\.WINDOW|SET\.NAME|CHAR|WinExec)\s*\(")
_AUTO_OPEN = re.compile(r"(?i)^(?:_xlnm\.)?auto_(?:open|close)")  # Excel runs any name starting so
_BUILTIN_AUTO = {"\x01": "Auto_Open", "\x02": "Auto_Close"}
_MACROSHEET_MEMBER = re.compile(r"(^|/)(intl)?macrosheets/[^/]+\.(xml|bin)$")
_FORMULA_XML = re.compile(rb"<(?:\w+:)?f(?:\s[^>]*)?>([^<]{1,2000})</(?:\w+:)?f>")
_DEFINED_NAME_XML = re.compile(rb"<(?:\w+:)?definedName\b[^>]*\bname=\"([^\"]+)\"")
_AUTO_OPEN_UTF16 = re.compile(b"|".join(re.escape(w.encode("utf-16-le")) for w in ("auto_open", "auto_close")),
                              re.IGNORECASE)
_SHEET_STATES = {0: "visible", 1: "hidden", 2: "very hidden"}


class OfficeXlm:
    name: ClassVar[str] = "office_xlm"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("MACRO_XLM", "office", "Excel 4.0 (XLM) macro sheet"),
        MACRO_AUTOEXEC_SPEC,
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in office_parts(message):
            if kind is OfficeKind.OLE:
                found = _scan_biff(part.data)
            elif kind is OfficeKind.OOXML:
                found = _scan_package(part.data)
            elif kind is OfficeKind.SYLK:
                found = _scan_sylk(part.data)
            else:
                continue
            if found is None:
                continue
            sheets, functions, auto_open = found
            evidence = {"sheets": ", ".join(sheets)[:200], "functions": ", ".join(functions)[:300]}
            yield Finding("MACRO_XLM", self.name, part.path, evidence)
            if auto_open:
                yield Finding("MACRO_AUTOEXEC", self.name, part.path, {"triggers": auto_open})


Found = tuple[list[str], list[str], str]  # macro sheets, functions called, auto-open name ("" = none)


def _functions(text: str) -> list[str]:
    return sorted({m.group(1).upper() for m in _DANGEROUS_FUNCTIONS.finditer(text)})


# ---------------------------------------------------------------- BIFF8 (.xls)


def _scan_biff(data: bytes) -> Found | None:
    try:
        ole = olefile.OleFileIO(data)
        stream = next((s for s in ("Workbook", "Book") if ole.exists(s)), None)
        workbook = ole.openstream(stream).read() if stream else b""
    except Exception:  # unreadable containers are reported by office_macros
        return None
    sheets, auto_open = _biff_globals(workbook)
    if not sheets:
        return None
    return sheets, _biff_functions(stream, workbook), auto_open


def _biff_globals(workbook: bytes) -> tuple[list[str], str]:
    """Macro sheets ("name (state)") and an Auto_Open name, from the globals substream's records."""
    sheets: list[str] = []
    auto_open = ""
    offset = 0
    while offset + 4 <= len(workbook):
        rec_type, length = struct.unpack_from("<HH", workbook, offset)
        body = workbook[offset + 4 : offset + 4 + length]
        offset += 4 + length
        if rec_type == 0x000A:  # EOF of the globals substream
            break
        if rec_type == 0x0085 and len(body) >= 8 and body[5] == 0x01:  # BOUNDSHEET, dt = macro sheet
            sheets.append(f"{_short_string(body[6:])} ({_SHEET_STATES.get(body[4] & 0x03, 'visible')})")
        elif rec_type == 0x0018 and len(body) >= 16:  # LABEL (defined name): 14 fixed bytes, then the name
            name = _short_string(bytes([body[3]]) + body[14:])
            if struct.unpack_from("<H", body, 0)[0] & 0x0020:  # built-in: the name is a one-character code
                auto_open = _BUILTIN_AUTO.get(name[:1], auto_open)
            elif _AUTO_OPEN.match(name):
                auto_open = name
    return sheets, auto_open


def _short_string(body: bytes) -> str:
    """A count byte, a flag byte (bit 0: UTF-16) and the characters (MS-XLS ShortXLUnicodeString)."""
    if len(body) < 2:
        return ""
    count, wide = body[0], body[1] & 0x01
    raw = body[2 : 2 + count * (2 if wide else 1)]
    return raw.decode("utf-16-le" if wide else "latin-1", "replace")


def _biff_functions(stream: str, workbook: bytes) -> list[str]:
    try:
        lines = cBIFF(name=[stream], stream=workbook, options="-c -r LN").Analyze()
    except Exception:  # the formulas are evidence only; the macro sheet itself was already found
        return []
    return _functions("\n".join(str(line) for line in lines))


# ---------------------------------------------------------------- OOXML (.xlsm .xltm .xlam .xlsb)


def _scan_package(data: bytes) -> Found | None:
    package = open_package(data)
    if package is None:
        return None
    with package:
        sheets = members_matching(package, _MACROSHEET_MEMBER)
        if not sheets:
            return None
        functions: set[str] = set()
        for name in sheets:
            if name.lower().endswith(".xml"):
                formulas = b"\n".join(_FORMULA_XML.findall(read_member(package, name)))
                functions.update(_functions(formulas.decode("utf-8", "replace")))
        auto_open = ""
        for name in members_matching(package, re.compile(r"(^|/)workbook\.(xml|bin)$")):
            body = read_member(package, name)
            if name.lower().endswith(".xml"):
                names = [n.decode("utf-8", "replace") for n in _DEFINED_NAME_XML.findall(body)]
                auto_open = next((n for n in names if _AUTO_OPEN.match(n)), auto_open)
            elif _AUTO_OPEN_UTF16.search(body):
                auto_open = "Auto_Open"
    return [s.rsplit("/", 1)[-1] for s in sheets], sorted(functions), auto_open


# ---------------------------------------------------------------- SYLK


def _scan_sylk(data: bytes) -> Found | None:
    macro_sheet = False
    formulas: list[str] = []
    auto_open = ""
    for line in data[:4_000_000].decode("latin-1").splitlines():
        fields = line.split(";")
        if fields[0] == "O" and "E" in fields[1:]:
            macro_sheet = True
        elif fields[0] == "C":
            formulas += [f[1:] for f in fields[1:] if f.startswith("E")]
        elif fields[0] == "NN":
            name = next((f[1:] for f in fields[1:] if f.startswith("N")), "")
            if _AUTO_OPEN.match(name):
                auto_open = name
    functions = _functions("\n".join(formulas))
    # Without the O;E record Excel still evaluates EXEC/CALL in a SYLK cell as a macro formula.
    if not macro_sheet and not {"EXEC", "CALL", "REGISTER"} & set(functions):
        return None
    return ["SYLK macro sheet" if macro_sheet else "SYLK cells"], functions, auto_open
