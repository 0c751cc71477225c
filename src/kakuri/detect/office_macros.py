"""VBA macros in Office documents: present, run on open, and doing what droppers do.

Threat: Emotet-style maldocs (.doc/.xls/.ppt, .docm/.xlsm/.pptm, or macro content renamed to .docx/.xlsx)
whose VBA runs from Document_Open/AutoOpen/Workbook_Open and downloads or launches the next stage.
Technique: olevba's VBA_Parser only extracts the module sources (no deobfuscation, no analyze_macros: too
slow for a gateway); the code, capped at `max_code_chars`, is matched against regexes compiled once from
olevba's autoexec keyword table (minus click/typing events), and a curated list of dropper behaviour
(process launch, download, raw API, dynamic CreateObject, Chr()/base64 obfuscation). URLs found in the
code and in base64 blobs (PowerShell -enc) are reported as IOCs.
Emits: MACRO_PRESENT, MACRO_AUTOEXEC (evidence: triggers), MACRO_SUSPICIOUS (evidence: keywords, urls),
OFFICE_UNPARSEABLE (looks like Office, but oletools could not read it).
Policy choice: MACRO_PRESENT alone only tags. Business workbooks from partners do carry macros, but
inbound macro documents were Emotet's main vector, so MACRO_AUTOEXEC alone quarantines and PRESENT +
SUSPICIOUS does too; operators who want "any macro from outside" quarantined raise MACRO_PRESENT.
Also read: Word 2003 XML, Flat OPC and MHT documents, through the compound files and packages office_flat
extracts from them (olevba would open them too, but inflates their ActiveMime blobs without a size cap).
Blind spots: p-code-only projects whose source was stomped (office_stomping compares them), and triggers reached only
through obfuscated names.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import ClassVar, Iterable

from oletools import olevba

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import OLE_MAGIC, OfficeKind, office_parts, open_package, read_member
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec

MACRO_AUTOEXEC_SPEC = SymbolSpec("MACRO_AUTOEXEC", "office", "A macro runs by itself when the document is opened or closed")
OFFICE_UNPARSEABLE_SPEC = SymbolSpec("OFFICE_UNPARSEABLE", "office", "Looks like an Office document but could not be parsed; not fully scanned")

# Dropper behaviour, by category; each alternative is a whole word (case-insensitive, as VBA is).
_SUSPICIOUS = {
    "execute": r"Shell|ShellExecuteA?|WScript\.Shell|Shell\.Application|CallByName|ExecuteExcel4Macro|MacScript"
               r"|Win32_Process|WinExec|CreateProcessA?|ExecQuery",
    "download": r"URLDownloadToFileA?|(?:Server)?XMLHTTP|WinHttpRequest|WinHttp|Net\.WebClient|DownloadFile"
                r"|DownloadString|InternetExplorer\.Application|InternetOpenUrlA?",
    "write": r"ADODB\.Stream|SaveToFile",
    "api": r"VirtualAlloc|RtlMoveMemory|CreateThread|WriteProcessMemory|EnumSystemCodePages",
    "lolbin": r"powershell(?:\.exe)?|cmd(?:\.exe)?\s+/[ck]|mshta|rundll32|regsvr32|certutil|bitsadmin|wmic|cscript|wscript",
    "obfuscation": r"StrReverse|-e(?:nc(?:odedcommand)?)?\s+[A-Za-z0-9+/]{20,}",
}
_RISKY_PROGID = re.compile(r"(?i)wscript\.shell|shell\.application|xmlhttp|winhttp|adodb\.stream|wbemscripting|schedule\.service")
_CREATE_OBJECT = re.compile(r'(?i)\b(?:CreateObject|GetObject)\s*\(\s*("([^"]*)")?')
_CHR_CALL = re.compile(r"(?i)\bChrW?\$?\s*\(")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
_URL = re.compile(r"(?i)\b(?:https?|ftp)://[^\s\"'<>,;)]{3,200}")
_IP_URL = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_CHR_OBFUSCATION_MIN = 20


# ActiveX events in olevba's table that need a user's click or typing: a button handler is not "auto".
_USER_DRIVEN_EVENTS = ("_Click", "_Change", "_MouseMove", "_MouseEnter", "_MouseLeave", "_FollowHyperlink",
                       "_ContentControlOnEnter", "_PropertyChange")


def autoexec_regex() -> re.Pattern[str]:
    """olevba's autoexec keyword table, compiled once (olevba compiles one regex per keyword per call).

    The ActiveX event names ("\\w+_Painted") share one "\\w+_(...)" branch: as separate alternatives each
    would re-scan every word."""
    words = [re.escape(k) for keys in olevba.AUTOEXEC_KEYWORDS.values() for k in keys]
    events = [k.removeprefix(r"\w+_") for keys in olevba.AUTOEXEC_KEYWORDS_REGEX.values() for k in keys
              if not k.endswith(_USER_DRIVEN_EVENTS)]
    plain = "|".join(sorted(set(words), key=len, reverse=True))
    return re.compile(r"(?i)\b(?:" + plain + r"|\w+_(?:" + "|".join(sorted(set(events))) + r"))\b")


class OfficeMacros:
    name: ClassVar[str] = "office_macros"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("MACRO_PRESENT", "office", "Office document with VBA macros"),
        MACRO_AUTOEXEC_SPEC,
        SymbolSpec("MACRO_SUSPICIOUS", "office", "Macro code launches programs, downloads, writes files, calls raw APIs or is obfuscated"),
        OFFICE_UNPARSEABLE_SPEC,
    )

    def __init__(self, max_code_chars: int = 2_000_000, max_part_bytes: int = 40_000_000) -> None:
        self.max_code_chars = max_code_chars
        self.max_part_bytes = max_part_bytes  # olevba holds the whole file (and its streams) in memory
        self._autoexec = autoexec_regex()
        self._suspicious = re.compile(
            r"(?i)(?<!\w)(?:" + "|".join(f"(?P<{k}>{v})" for k, v in _SUSPICIOUS.items()) + r")\b")

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in office_parts(message):
            if kind in (OfficeKind.OLE, OfficeKind.OOXML) and may_hold_vba(part, kind):
                yield from self._scan(part)

    def _scan(self, part: Part) -> Iterable[Finding]:
        if part.size > self.max_part_bytes:
            yield Finding("OFFICE_UNPARSEABLE", self.name, part.path, {"error": f"larger than {self.max_part_bytes} bytes"})
            return
        try:
            modules = _extract_modules(part)
        except Exception as exc:  # olevba raises many types on hostile input; the part is still suspicious
            yield Finding("OFFICE_UNPARSEABLE", self.name, part.path, {"error": f"{type(exc).__name__}: {exc}"[:200]})
            return
        modules = [(name, source) for name, source in modules if _has_statements(source)]
        if not modules:
            return
        code = "\n".join(source for _, source in modules)[: self.max_code_chars]
        names = ", ".join(name for name, _ in modules)[:300]
        yield Finding("MACRO_PRESENT", self.name, part.path, {"modules": names, "code_chars": str(len(code))})
        triggers = sorted({m.group(0) for m in self._autoexec.finditer(code)})
        if triggers:
            yield Finding("MACRO_AUTOEXEC", self.name, part.path, {"triggers": ", ".join(triggers)[:300], "modules": names})
        keywords = self._suspicious_keywords(code)
        if keywords:
            evidence = {"keywords": ", ".join(keywords)[:400], "modules": names}
            iocs = extract_iocs(code)
            if iocs:
                evidence["iocs"] = " ".join(iocs)[:600]
            yield Finding("MACRO_SUSPICIOUS", self.name, part.path, evidence)

    def _suspicious_keywords(self, code: str) -> list[str]:
        found: dict[str, None] = {}
        for match in self._suspicious.finditer(code):
            found.setdefault(f"{match.lastgroup}:{match.group(0).split()[0]}", None)
        for match in _CREATE_OBJECT.finditer(code):
            progid = match.group(2)
            if progid is None:  # the ProgID is computed at run time: hidden on purpose
                found.setdefault("obfuscation:CreateObject(<computed>)", None)
            elif _RISKY_PROGID.search(progid):
                found.setdefault(f"execute:CreateObject({progid})", None)
        if len(_CHR_CALL.findall(code)) >= _CHR_OBFUSCATION_MIN:
            found.setdefault("obfuscation:Chr()", None)
        if any(_decodes_as_text(blob) for blob in _BASE64.findall(code)[:50]):
            found.setdefault("obfuscation:base64", None)
        return list(found)[:30]


def may_hold_vba(part: Part, kind: OfficeKind) -> bool:
    """Cheap gate before olevba: a package must contain an OLE member (vbaProject.bin or renamed)."""
    if kind is OfficeKind.OLE:
        return True
    package = open_package(part.data)
    if package is None:
        return True  # let olevba fail and report OFFICE_UNPARSEABLE
    with package:
        return any(info.file_size >= 512 and read_member(package, info.filename, 8) == OLE_MAGIC
                   for info in package.infolist())


def _extract_modules(part: Part) -> list[tuple[str, str]]:
    """(module path, source) of every VBA module; XLM pseudo-modules are office_xlm's job."""
    parser = olevba.VBA_Parser(part.filename or "document", data=part.data)
    try:
        if not parser.detect_vba_macros():
            return []
        return [(f"{stream}" or name, code if isinstance(code, str) else code.decode("latin-1"))
                for _, stream, name, code in parser.extract_macros() if stream != "xlm_macro" and code]
    finally:
        parser.close()


def _has_statements(source: str) -> bool:
    """Excel and Word keep a project of attribute-only modules (ThisWorkbook, Sheet1) in files that once had
    macros or were saved as .xlsm without any: that is not macro code."""
    return any(line.strip() and not line.lstrip().startswith(("Attribute ", "'")) for line in source.splitlines())


def _decodes_as_text(blob: str) -> bool:
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    text = raw.replace(b"\0", b"")  # PowerShell -enc is UTF-16LE
    return len(text) >= 20 and sum(32 <= b < 127 for b in text) / len(text) > 0.9


def extract_iocs(code: str, limit: int = 20) -> list[str]:
    """URLs and IP addresses in macro code, including inside base64 (PowerShell -enc) blobs."""
    texts = [code]
    for blob in _BASE64.findall(code)[:50]:
        if _decodes_as_text(blob):
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4))
            texts.append(raw.replace(b"\0", b"").decode("latin-1"))
    found: dict[str, None] = {}
    for text in texts:
        for url in _URL.findall(text):
            found.setdefault(url.rstrip(".'\""), None)
        for ip in _IP_URL.findall(text):
            if all(int(octet) < 256 for octet in ip.split(".")) and not any(ip in url for url in found):
                found.setdefault(ip, None)
    return list(found)[:limit]
