"""PDF documents that run code, launch programs, carry executables or exist only to be clicked.

Threat: PDFs whose JavaScript or /Launch action runs on open, PDFs that smuggle an executable as an
embedded file, and one-page "click here to view the document" lures whose page is one big link.
Technique: a bounded scan for the PDF names that carry these features (/JS, /JavaScript, /Launch,
/OpenAction, /AA, /EmbeddedFile, /URI, /XFA, /AcroForm, /Encrypt), tolerant of the hex escapes that
hide them (/J#61vaScript, itself a strong sign) and looking inside compressed object streams (/ObjStm),
where PDF 1.5+ files keep their dictionaries. The names of embedded and launched files come from
file specification strings (/F, /UF); embedded files' own bytes are inflated and sniffed as well.
Why not pdfid: it walks the file byte by byte in Python (slow on the multi-megabyte scans that
partners mail every day) and does not open object streams; the few names we need fit one regex.
Emits: PDF_JAVASCRIPT, PDF_AUTO_ACTION, PDF_LAUNCH, PDF_EMBEDDED_FILE, PDF_EMBEDDED_EXECUTABLE,
PDF_OBFUSCATED_NAME, PDF_URI_LURE, PDF_XFA, PDF_ENCRYPTED.
Blind spots: streams with filters other than Flate (or chains) and encrypted object streams are not
opened; JavaScript reached only through indirect names we do not list; lures whose link is drawn small;
embedded files are sniffed for executables, not handed to the other detectors (a macro document
inside a PDF is not opened).
"""

from __future__ import annotations

import re
import zlib
from typing import ClassVar, Iterable, Iterator

from kakuri.detect.base import ScanContext
from kakuri.detect.file_types import ACTIVE_TYPES, RISKY_EXTENSIONS, true_type_of
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec
from kakuri.unpack.filetype import sniff

MAX_SCAN_BYTES = 32 * 1024 * 1024  # raw bytes of one PDF that are read
MAX_STREAMS = 256  # object streams and embedded files opened per PDF, each
MAX_INFLATED_BYTES = 16 * 1024 * 1024  # all streams of one PDF together
LURE_LINK_SHARE = 0.25  # a link covering this share of a single page is the page's point

_WATCHED = ("JS", "JavaScript", "Launch", "OpenAction", "AA", "EmbeddedFile", "EmbeddedFiles", "URI", "XFA",
            "AcroForm", "Encrypt", "ObjStm")
_DELIMITER = rb"(?=[\s()<>\[\]{}/%]|$)"


def _name_pattern(name: str) -> bytes:
    """A name with every character either literal or #-hex-escaped, as PDF readers accept."""
    alternatives = [rb"(?:%s|#%s)" % (re.escape(ch.encode()), _hex_either_case(ord(ch))) for ch in name]
    return b"".join(alternatives)


def _hex_either_case(code: int) -> bytes:
    return b"".join(b"[%s%s]" % (c.upper().encode(), c.lower().encode()) if c.isalpha() else c.encode()
                    for c in f"{code:02x}")


_NAMES = re.compile(
    b"/(?:" + b"|".join(b"(?P<n%d>%s)" % (i, _name_pattern(n)) for i, n in enumerate(_WATCHED)) + b")" + _DELIMITER
)
_STREAM = re.compile(rb"stream\r?\n")
_FILE_STRING = re.compile(rb"/U?F\s*(\((?:\\.|[^\\)]){1,512}\)|<[0-9A-Fa-f\s]{2,1024}>)", re.DOTALL)
_PAGE = re.compile(rb"/Type\s*/Page" + _DELIMITER)
_BOX = rb"\[\s*(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s*\]"
_MEDIABOX = re.compile(rb"/MediaBox\s*" + _BOX)
_RECT = re.compile(rb"/Rect\s*" + _BOX)
_URI_VALUE = re.compile(rb"/URI\s*\(((?:\\.|[^\\)]){1,1024})\)")


class Pdf:
    name: ClassVar[str] = "pdf"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("PDF_JAVASCRIPT", "pdf", "The PDF contains JavaScript"),
        SymbolSpec("PDF_AUTO_ACTION", "pdf", "JavaScript or a launch action is tied to opening the PDF (/OpenAction, /AA)"),
        SymbolSpec("PDF_LAUNCH", "pdf", "The PDF has a /Launch action that starts a program or file"),
        SymbolSpec("PDF_EMBEDDED_FILE", "pdf", "The PDF carries an embedded file"),
        SymbolSpec("PDF_EMBEDDED_EXECUTABLE", "pdf", "The PDF embeds or launches a file with a runnable extension"),
        SymbolSpec("PDF_OBFUSCATED_NAME", "pdf", "Active-content names are hex-escaped (/J#61vaScript) to evade scanners"),
        SymbolSpec("PDF_URI_LURE", "pdf", "A one-page PDF whose page is mostly one web link"),
        SymbolSpec("PDF_XFA", "pdf", "The PDF has an XFA form (scriptable, rarely legitimate in mail)"),
        SymbolSpec("PDF_ENCRYPTED", "pdf", "The PDF is encrypted; its streams could not be inspected"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part in message.walk_parts():
            if is_pdf(part):
                yield from self.check_part(part)

    def check_part(self, part: Part) -> Iterator[Finding]:
        raw = part.data[:MAX_SCAN_BYTES]
        seen: dict[str, int] = {}
        escaped: set[str] = set()
        streams = _scan_names(raw, seen, escaped)
        budget = _Budget()
        chunks = [raw, *filter(None, (_stream_after(raw, at, budget) for at in streams["ObjStm"]))]
        for chunk in chunks[1:]:
            _scan_names(chunk, seen, escaped)
        files: list[str] = []
        if _has(seen, "EmbeddedFile", "EmbeddedFiles", "Launch"):
            files = [name for chunk in chunks for name in _file_names(chunk)]
        # The embedded file's bytes, not just its name: "invoice.pdf" inside may be a PE.
        payloads = (_stream_after(raw, at, budget, raw_fallback=True) for at in streams["EmbeddedFile"])
        active = sorted({kind for data in payloads if data and (kind := sniff(data)) in ACTIVE_TYPES})
        yield from self._active_content(part, seen, escaped, files, active)
        if seen.get("URI") and (lure := _uri_lure(chunks)):
            yield Finding("PDF_URI_LURE", self.name, part=part.path, evidence=lure)

    def _active_content(
        self, part: Part, seen: dict, escaped: set, files: list[str], active: list[str]
    ) -> Iterator[Finding]:
        ev = {"filename": part.filename or ""}
        js, launch = _has(seen, "JS", "JavaScript"), _has(seen, "Launch")
        if js:
            yield Finding("PDF_JAVASCRIPT", self.name, part=part.path, evidence={**ev, "acroform": _yes(seen, "AcroForm")})
        if launch:
            yield Finding("PDF_LAUNCH", self.name, part=part.path, evidence={**ev, "targets": ", ".join(files)[:200]})
        triggers = [n for n in ("OpenAction", "AA") if seen.get(n)]
        if (js or launch) and triggers:
            yield Finding("PDF_AUTO_ACTION", self.name, part=part.path, evidence={**ev, "triggers": ", ".join(triggers)})
        if _has(seen, "EmbeddedFile", "EmbeddedFiles"):
            yield Finding("PDF_EMBEDDED_FILE", self.name, part=part.path, evidence={**ev, "names": ", ".join(files)[:200]})
        risky = [f for f in files if _extension(f) in RISKY_EXTENSIONS]
        if risky or active:
            evidence = {**ev, "names": ", ".join(risky)[:200], "content": ", ".join(active)}
            yield Finding("PDF_EMBEDDED_EXECUTABLE", self.name, part=part.path, evidence=evidence)
        hidden = sorted(escaped - {"ObjStm"})
        if hidden:
            yield Finding("PDF_OBFUSCATED_NAME", self.name, part=part.path, evidence={**ev, "names": ", ".join(hidden)})
        if seen.get("XFA"):
            yield Finding("PDF_XFA", self.name, part=part.path, evidence=ev)
        if seen.get("Encrypt"):
            yield Finding("PDF_ENCRYPTED", self.name, part=part.path, evidence=ev)


def is_pdf(part: Part) -> bool:
    true_type = true_type_of(part)
    # Readers accept the header anywhere in the first KiB, so junk in front must not hide a PDF;
    # a container (a stored zip member) is not itself a PDF.
    return true_type == "pdf" or (true_type in ("data", "text") and b"%PDF-" in part.data[:1024])


def _has(seen: dict, *names: str) -> bool:
    return any(seen.get(n) for n in names)


def _yes(seen: dict, name: str) -> str:
    return "yes" if seen.get(name) else "no"


def _scan_names(chunk: bytes, seen: dict[str, int], escaped: set[str]) -> dict[str, list[int]]:
    """Count the watched names in `chunk`; return where each /ObjStm and /EmbeddedFile name ends."""
    streams: dict[str, list[int]] = {"ObjStm": [], "EmbeddedFile": []}
    for match in _NAMES.finditer(chunk):
        name = _WATCHED[int(match.lastgroup[1:])]
        seen[name] = seen.get(name, 0) + 1
        if b"#" in match.group(0):
            escaped.add(name)
        if name in streams and len(streams[name]) < MAX_STREAMS:
            streams[name].append(match.end())
    return streams


class _Budget:
    """Inflated bytes still allowed for one PDF."""

    def __init__(self) -> None:
        self.left = MAX_INFLATED_BYTES


def _stream_after(raw: bytes, position: int, budget: _Budget, raw_fallback: bool = False) -> bytes:
    """The content of the stream whose dictionary holds `position`, inflated within the budget."""
    start = _STREAM.search(raw, position, position + 4096)
    if not start or budget.left <= 0:
        return b""
    end = raw.find(b"endstream", start.end())
    body = raw[start.end(): end if end >= 0 else len(raw)]
    try:  # zlib reads max_length=0 as "no limit", hence the check on budget.left above
        data = zlib.decompressobj().decompress(body, budget.left)
    except zlib.error:  # damaged or not Flate: tolerated, the raw scan still ran
        data = body[: budget.left] if raw_fallback else b""
    budget.left -= len(data)
    return data


def _file_names(chunk: bytes) -> Iterator[str]:
    for match in _FILE_STRING.finditer(chunk):
        name = _decode_string(match.group(1)).strip()
        if name:
            yield name


def _decode_string(token: bytes) -> str:
    if token.startswith(b"<"):
        digits = re.sub(rb"\s", b"", token[1:-1])
        try:
            data = bytes.fromhex(digits.decode() + ("0" if len(digits) % 2 else ""))
        except ValueError:
            return ""
    else:
        data = _unescape_literal(token[1:-1])
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", "replace")
    return data.decode("latin-1")


_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape_literal(body: bytes) -> bytes:
    def replace(m: re.Match) -> bytes:
        esc = m.group(1)
        if esc[:1] in (b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7"):  # "\8" is just "8" (found by fuzzing)
            return bytes([int(esc, 8) & 0xFF])
        return _ESCAPES.get(esc, esc)

    return re.sub(rb"\\([0-7]{1,3}|.)", replace, body, flags=re.DOTALL)


def _extension(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1].rstrip(". ")
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _uri_lure(chunks: list[bytes]) -> dict[str, str] | None:
    """A single page with a link whose clickable area covers a large share of it."""
    pages = sum(len(_PAGE.findall(c)) for c in chunks)
    if pages != 1:
        return None
    box = next((m for c in chunks if (m := _MEDIABOX.search(c))), None)
    page_area = _area(box) if box else 612 * 792
    if page_area <= 0:
        return None
    for chunk in chunks:
        for uri in _URI_VALUE.finditer(chunk):
            window = chunk[max(0, uri.start() - 800): uri.end() + 800]
            share = max((_area(r) for r in _RECT.finditer(window)), default=0.0) / page_area
            if share >= LURE_LINK_SHARE:
                target = _unescape_literal(uri.group(1)).decode("latin-1")
                return {"uri": target[:200], "link_share": f"{min(share, 1.0):.2f}"}
    return None


def _area(box: re.Match) -> float:
    try:
        x1, y1, x2, y2 = (float(v) for v in box.groups())
    except ValueError:
        return 0.0
    return abs(x2 - x1) * abs(y2 - y1)
