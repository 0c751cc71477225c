"""Executables, scripts and shortcuts delivered by mail, and names that hide what a file really is.

Threat: Emotet-style droppers that skip the macro stage: an .exe/.js/.lnk/.hta attached directly or
zipped, a disk image (.iso/.img/.vhd) that Windows mounts without Mark-of-the-Web, OneNote and CHM
lures, and names built to mislead ("invoice.pdf.exe", "report.doc      .js", RTLO "exe.pdf" tricks).
Technique: every MIME part and unpacked member is judged on three independent facts: its name (final
extension, decoy inner extension, bidi/zero-width characters), its content (`Part.true_type` from the
unpack stage's sniffer, plus a few script markers for text that claims to be something else) and its
declared MIME type. A dangerous fact on any of them is enough; the name alone is what the user clicks,
the content alone is what runs. The declared MIME type only counts against runnable content under a
document's type: mailers mislabel everything else (application/octet-stream is everywhere).
Emits: FILE_EXECUTABLE, FILE_SCRIPT, FILE_SHORTCUT, FILE_URL_SHORTCUT, FILE_DISK_IMAGE, FILE_ONENOTE,
FILE_CHM, FILE_JAVA, FILE_DOUBLE_EXTENSION, FILE_UNICODE_TRICK, FILE_TYPE_MISMATCH,
FILE_DISGUISED_EXECUTABLE.
Blind spots: formats the sniffer does not know (no judgement is made on an unknown type); scripts
whose text avoids the markers below (obfuscated beyond recognition) under a harmless name; encrypted
members we could not open (left to the archive detector). Office exports that are really HTML/XML or
RTF under .xls/.doc are common and legitimate, so they are not called a mismatch.
"""

from __future__ import annotations

import re
from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec
from kakuri.detect.urls import EXECUTABLE
from kakuri.parse.domains import is_ip_literal
from kakuri.unpack.filetype import DISK_IMAGE_TYPES, sniff

EXECUTABLE_EXTENSIONS = frozenset(
    "exe scr com pif cpl dll msi msp msix appx appxbundle application appref-ms gadget xll wll".split()
)
SCRIPT_EXTENSIONS = frozenset(
    "js jse vbs vbe vb wsf wsh wsc ws hta ps1 psm1 psd1 ps1xml bat cmd sct reg inf msc".split()
)
SHORTCUT_EXTENSIONS = frozenset("lnk scf settingcontent-ms library-ms searchconnector-ms".split())
DISK_IMAGE_EXTENSIONS = frozenset("iso img vhd vhdx udf".split())
ONENOTE_EXTENSIONS = frozenset("one onepkg".split())
JAVA_EXTENSIONS = frozenset("jar jnlp class".split())
# What Windows runs or mounts on a double-click: a decoy extension in front of one of these is a lie.
RISKY_EXTENSIONS = (
    EXECUTABLE_EXTENSIONS
    | SCRIPT_EXTENSIONS
    | SHORTCUT_EXTENSIONS
    | DISK_IMAGE_EXTENSIONS
    | ONENOTE_EXTENSIONS
    | JAVA_EXTENSIONS
    | {"chm", "url"}
)
DECOY_EXTENSIONS = frozenset(
    "pdf doc docx docm xls xlsx xlsm ppt pptx rtf txt csv jpg jpeg png gif bmp tif tiff htm html "
    "zip rar 7z mp3 mp4 wav avi mov eml msg".split()
)

EXECUTABLE_TYPES = frozenset({"pe", "elf", "macho", "msi"})  # not "dos": any text starting "MZ"
# Content that runs or points at something that runs, whatever the name says.
ACTIVE_TYPES = EXECUTABLE_TYPES | {"lnk", "chm"}

_OOXML_KINDS = frozenset({"ooxml", "docx", "docm", "xlsx", "xlsm", "pptx", "pptm"})
# Password-protected OOXML is an OLE container; "zip" because the sniffer may miss the OOXML marker
# in a very large package.
_OOXML = _OOXML_KINDS | {"zip", "ole"}
# Word and Excel open HTML, XML, RTF and OOXML under legacy names; business systems export that way.
# A plain zip they cannot open: that is an archive in disguise.
_LEGACY_OFFICE = _OOXML_KINDS | {"ole", "doc", "xls", "ppt", "rtf", "html", "xml"}
_PICTURES = frozenset({"jpeg", "png", "gif"})
_EXPECTED_TYPES: dict[str, frozenset[str]] = {
    "pdf": frozenset({"pdf"}),
    **{ext: _OOXML for ext in "docx docm dotx dotm xlsx xlsm xltx xltm xlsb pptx pptm ppsx ppsm potx".split()},
    **{ext: _LEGACY_OFFICE for ext in "doc dot xls xlt ppt pps pot".split()},
    "rtf": frozenset({"rtf"}),
    "zip": _OOXML_KINDS | {"zip", "odf"},
    "7z": frozenset({"7z"}),
    "rar": frozenset({"rar"}),
    "txt": frozenset({"html", "xml"}),
    "csv": frozenset(),
    # A PNG saved as .jpg is everyday sloppiness; only non-pictures under picture names matter.
    **{ext: _PICTURES for ext in "jpg jpeg jpe png gif".split()},
}
# Plain text and unknown bytes carry no claim of their own; script text is caught by its markers instead.
_UNJUDGED_TYPES = frozenset({"text", "data", "empty", "encrypted"})  # "encrypted": a member we could not open
_TEXTUAL_TYPES = frozenset({"text", "html", "xml", "svg"})
# MIME types a mailer would only declare for a harmless document or picture.
_HARMLESS_MIME = re.compile(r"^(application/(pdf|msword|vnd\.(ms-|openxmlformats))|image/|text/(plain|csv|calendar))")

_BIDI = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C}
_ZERO_WIDTH = {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E}

# Markers that only script code carries; an attachment that says .txt or .pdf and contains these is a script.
_SCRIPT_MARKERS = re.compile(
    rb"WScript\.(?:Shell|CreateObject|Sleep|ScriptFullName|Arguments)"
    # Not MSXML2/XMLHTTP alone: old web pages create those for AJAX; droppers pair them with these.
    rb"|(?:new\s+ActiveXObject|CreateObject)\s*\(\s*[\"'](?:WScript\.|Shell\.Application|Scripting\.FileSystemObject|ADODB\.Stream)"
    rb"|GetObject\s*\(\s*[\"']winmgmts|<\s*HTA:APPLICATION"
    rb"|powershell(?:\.exe)?\s[^\r\n]{0,80}?-(?:e|ec|enc|encodedcommand)\s+[A-Za-z0-9+/=]{20,}"
    rb"|(?:IEX|Invoke-Expression)\b[^\r\n]{0,120}?(?:Net\.WebClient|DownloadString|Invoke-WebRequest)"
    rb"|\b(?:certutil(?:\.exe)?\s+-urlcache|bitsadmin(?:\.exe)?\s+/transfer|mshta(?:\.exe)?\s+https?:)",
    re.IGNORECASE,
)
_SCRIPT_ANCHORS = (b"wscript.", b"object", b"hta:", b"powershell", b"iex", b"invoke-expression", b"certutil",
                   b"bitsadmin", b"mshta")
_SCRIPT_SCAN_BYTES = 1 << 20
_URL_TARGET = re.compile(rb"^\s*URL\s*=\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class FileTypes:
    name: ClassVar[str] = "file_types"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("FILE_EXECUTABLE", "files", "An executable program (PE/ELF/Mach-O/MSI by content, or an .exe-like name)"),
        SymbolSpec("FILE_SCRIPT", "files", "A Windows script (.js .vbs .hta .ps1 .bat ...) by name, or script code under another name"),
        SymbolSpec("FILE_SHORTCUT", "files", "A Windows shortcut (.lnk, .scf, .settingcontent-ms, a .url to a file, a share, a program or an IP)"),
        SymbolSpec("FILE_URL_SHORTCUT", "files", "An Internet shortcut (.url) to a web address"),
        SymbolSpec("FILE_DISK_IMAGE", "files", "A disk image (.iso .img .vhd .vhdx) that Windows mounts with a double-click"),
        SymbolSpec("FILE_ONENOTE", "files", "A OneNote notebook section, a carrier for embedded scripts"),
        SymbolSpec("FILE_CHM", "files", "A compiled HTML help file, which can run script"),
        SymbolSpec("FILE_JAVA", "files", "A Java archive or Web Start file"),
        SymbolSpec("FILE_DOUBLE_EXTENSION", "files", "A decoy document extension in front of a runnable one (invoice.pdf.exe)"),
        SymbolSpec("FILE_UNICODE_TRICK", "files", "Bidirectional-override or zero-width characters in a file name"),
        SymbolSpec("FILE_TYPE_MISMATCH", "files", "The content's real type differs from the type the name claims"),
        SymbolSpec("FILE_DISGUISED_EXECUTABLE", "files", "Executable or shortcut content under a harmless-looking name or MIME type"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part in message.walk_parts():
            yield from self.check_part(part)

    def check_part(self, part: Part) -> Iterable[Finding]:
        ext = part.extension
        true_type = true_type_of(part)
        if true_type == "macho" and ext == "class":  # Java bytecode shares Mach-O's fat magic
            true_type = "java_class"
        ev = {"filename": part.filename or "", "true_type": true_type}
        yield from self._by_kind(part, ext, true_type, ev)
        if part.filename:
            yield from self._name_tricks(part, ext, ev)
        yield from self._mismatch(part, ext, true_type, ev)

    def _by_kind(self, part: Part, ext: str, true_type: str, ev: dict) -> Iterable[Finding]:
        if true_type in EXECUTABLE_TYPES or ext in EXECUTABLE_EXTENSIONS:
            yield self._finding("FILE_EXECUTABLE", part, ev, by="content" if true_type in EXECUTABLE_TYPES else "name")
        if ext in SCRIPT_EXTENSIONS:
            yield self._finding("FILE_SCRIPT", part, ev, by="name")
        elif marker := _script_marker(part, true_type):
            yield self._finding("FILE_SCRIPT", part, ev, by="content", marker=marker)
        if ext == "url":
            target = _url_target(part.data)
            is_web = target.lower().startswith(("http://", "https://")) and not _is_download_target(target)
            yield self._finding("FILE_URL_SHORTCUT" if is_web else "FILE_SHORTCUT", part, ev, target=target[:200])
        elif ext in SHORTCUT_EXTENSIONS or true_type == "lnk":
            yield self._finding("FILE_SHORTCUT", part, ev)
        if ext in DISK_IMAGE_EXTENSIONS or true_type in DISK_IMAGE_TYPES:
            yield self._finding("FILE_DISK_IMAGE", part, ev)
        if ext in ONENOTE_EXTENSIONS or true_type == "onenote":
            yield self._finding("FILE_ONENOTE", part, ev)
        if ext == "chm" or true_type == "chm":
            yield self._finding("FILE_CHM", part, ev)
        if ext in JAVA_EXTENSIONS or true_type == "jar":
            yield self._finding("FILE_JAVA", part, ev)

    def _name_tricks(self, part: Part, ext: str, ev: dict) -> Iterable[Finding]:
        name = part.filename or ""
        tricks = sorted({f"U+{ord(ch):04X}" for ch in name if ord(ch) in _BIDI | _ZERO_WIDTH})
        if tricks:
            has_bidi = any(int(t[2:], 16) in _BIDI for t in tricks)
            # Zero-width characters alone also come from careless copy-paste; a bidi override never does.
            yield self._finding("FILE_UNICODE_TRICK", part, ev, weight=1.0 if has_bidi else 0.5, characters=" ".join(tricks))
        decoy = _decoy_extension(name)
        if decoy and ext in RISKY_EXTENSIONS:
            padded = bool(re.search(r"[\s_\u3000]{3,}\.[^.]*$", name))
            yield self._finding("FILE_DOUBLE_EXTENSION", part, ev, decoy=decoy, extension=ext, padded=str(padded).lower())

    def _mismatch(self, part: Part, ext: str, true_type: str, ev: dict) -> Iterable[Finding]:
        if true_type in ACTIVE_TYPES:
            harmless_name = bool(ext) and ext not in RISKY_EXTENSIONS
            harmless_mime = bool(_HARMLESS_MIME.match(part.content_type))
            if harmless_name or harmless_mime:
                yield self._finding("FILE_DISGUISED_EXECUTABLE", part, ev, extension=ext, declared=part.content_type)
            return
        expected = _EXPECTED_TYPES.get(ext)
        if expected is not None and true_type not in _UNJUDGED_TYPES and true_type not in expected:
            yield self._finding("FILE_TYPE_MISMATCH", part, ev, extension=ext, expected="/".join(sorted(expected)))

    def _finding(self, symbol: str, part: Part, ev: dict, weight: float = 1.0, **extra: str) -> Finding:
        return Finding(symbol, self.name, part=part.path, evidence={**ev, **extra}, weight=weight)


def true_type_of(part: Part) -> str:
    """The content type the unpack stage recorded, or the same sniff when it has not run."""
    return part.true_type or sniff(part.data)


def _script_marker(part: Part, true_type: str) -> str | None:
    head = part.data[:_SCRIPT_SCAN_BYTES]
    # Windows Script Host runs UTF-16 scripts too; the sniffer calls those "data".
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) and true_type in _TEXTUAL_TYPES | {"data"}:
        head = head.decode("utf-16", "replace").encode("utf-8", "replace")
    elif true_type not in _TEXTUAL_TYPES:
        return None
    # The regex has no literal prefix and is slow on megabytes; substring tests in C rule most text out.
    lowered = head.lower()
    if not any(anchor in lowered for anchor in _SCRIPT_ANCHORS):
        return None
    match = _SCRIPT_MARKERS.search(head)
    return match.group(0)[:80].decode("latin-1") if match else None


def _url_target(data: bytes) -> str:
    match = _URL_TARGET.search(data[:16384])
    return match.group(1).decode("utf-8", "replace") if match else ""


def _is_download_target(target: str) -> bool:
    """A web shortcut that fetches a program (`.hta`, `.exe`, `.js` ...) or opens a bare IP: it runs or
    drops code on the double-click, like a file shortcut, rather than showing a page."""
    rest = target.partition("://")[2]
    host = rest.partition("/")[0].rpartition("@")[2].rsplit(":", 1)[0].strip("[]")
    path = rest.partition("/")[2].split("?", 1)[0].split("#", 1)[0].rstrip("/")
    name = path.rsplit("/", 1)[-1].lower()
    return is_ip_literal(host) or ("." in name and name.rsplit(".", 1)[-1] in EXECUTABLE)


def _decoy_extension(name: str) -> str | None:
    """The document extension just before the final one ("invoice.pdf.exe" -> "pdf"), if any."""
    pieces = name.rstrip(". ").split(".")
    if len(pieces) < 3:
        return None
    inner = pieces[-2].strip(" _\u3000\t").lower()
    return inner if inner in DECOY_EXTENSIONS else None
