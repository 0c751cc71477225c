"""What a PDF asks its reader to click or scan: link annotations, buttons, QR codes, and pages that are only that.

Threat: the PDF lure of 2023-25: a one-page "document" that is a picture of an invoice, a voicemail or a
shared-file notice with one link or button to a credential page (often on a free host, a form builder or a
shortener), or a QR code to scan; frequently locked with a password given in the mail so that gateways cannot
look inside.
Technique: pypdf opens the document, with the message's candidate passwords when it is locked
(`unpack.passwords` and the scan's PasswordSources, as for archives). From the first pages it reads the URI
actions of link annotations and of form buttons (/Widget) and the targets of SubmitForm actions, the amount of
text the content streams draw, and the images the pages show; images of plausible size are decoded for QR codes
(`detect.qr_codes`). Links are published for the URL detectors (source "pdf"); QR codes go to the QR detector.
pdf.py keeps the raw, parser-free scan for active content; this module needs a parse because link rectangles,
page text and images are only meaningful per page. pypdf rather than pikepdf: it repairs more of the damaged
files lures are (broken xref tables, page trees without /Kids), needs no native library, and only the first
pages of PDFs are read, which keeps its pure-Python speed acceptable.
Emits: PDF_LINK (context), PDF_LURE_PAGE (one or two pages with next to no text of their own and a link to a site
that is neither the sender's, ours nor a partner's),
PDF_PASSWORD_IN_MESSAGE (locked with a password written in the same mail), PDF_LOCKED (no candidate opened it).
Blind spots: links drawn as text without an annotation (the URL detectors do not read PDF text), JavaScript
that opens a URL (pdf.py reports the JavaScript), images in filters PIL cannot decode (JBIG2, some CCITT).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import ClassVar, Iterable

from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ArrayObject, ByteStringObject, ContentStream, DictionaryObject, IndirectObject, TextStringObject

from kakuri.detect.attachment_links import is_foreign_link, publish_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.pdf import is_pdf
from kakuri.detect.qr_codes import MAX_PIXELS, MIN_SIDE, QR_FACT, decode_qr
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec
from kakuri.parse.urls import Url, make_url
from kakuri.unpack.passwords import harvest_passwords

logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # its repair notes on hostile files are not operator news

MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_PAGES = 3  # pages read for links, text and images; lures make their point on the first
MAX_CONTENT_BYTES = 256 * 1024  # content stream of one page parsed for text; bare lure pages draw a few KiB
MAX_IMAGES = 4  # page images decoded for QR codes, per PDF
MAX_ANNOTATIONS = 200  # per page
QR_MAX_PAGES = 3
MAX_PASSWORDS = 20
LURE_MAX_PAGES = 2
LURE_MAX_TEXT_CHARS = 200  # a real letter or invoice draws far more than this


@dataclass
class _Reading:
    pages: int = 0
    text_chars: int = 0
    images: int = 0
    decoded: int = 0
    links: list[tuple[Url, float]] = field(default_factory=list)  # (url, share of its page)
    qr: list[str] = field(default_factory=list)


class PdfLinks:
    name: ClassVar[str] = "pdf_links"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("PDF_LINK", "pdf", "The PDF has a clickable web link (link annotation, button or form target)"),
        SymbolSpec("PDF_LURE_PAGE", "pdf",
                   "A one- or two-page PDF with next to no text of its own and a link to a stranger's site (a "
                   "picture of a document, a 'view document' button)"),
        SymbolSpec("PDF_PASSWORD_IN_MESSAGE", "pdf",
                   "The PDF is locked with a password written in the same message: a way past scanners"),
        SymbolSpec("PDF_LOCKED", "pdf", "The PDF needs a password that no candidate opened: its contents are unscanned"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        passwords: list[str] | None = None
        for part in message.walk_parts():
            if not is_pdf(part) or part.size > MAX_PDF_BYTES:
                continue
            pdf, password = _open(part.data, None)
            if pdf is None and password == "locked":
                if passwords is None:
                    passwords = _candidates(message, ctx)
                pdf, password = _open(part.data, passwords)
                if pdf is None:
                    yield Finding("PDF_LOCKED", self.name, part=part.path,
                                  evidence={"filename": part.filename or "", "attempts": str(len(passwords))})
                    continue
                in_message = password in harvest_passwords(f"{message.subject}\n{message.body_text}", MAX_PASSWORDS)
                if in_message:
                    yield Finding("PDF_PASSWORD_IN_MESSAGE", self.name, part=part.path,
                                  evidence={"filename": part.filename or "", "password": password})
            if pdf is None:
                continue  # not parseable: pdf.py's raw scan still ran
            reading = _read(pdf)
            yield from self._report(message, part, reading, ctx)

    def _report(self, message: ParsedMessage, part: Part, reading: _Reading, ctx: ScanContext) -> Iterable[Finding]:
        if reading.qr:
            ctx.facts.setdefault(QR_FACT, []).extend((part.path, text) for text in reading.qr)
        if not reading.links:
            return
        publish_urls(ctx, [url for url, _ in reading.links])
        first, share = reading.links[0]
        evidence = {"filename": part.filename or "", "url": first.url[:300], "links": str(len(reading.links)),
                    "pages": str(reading.pages), "text_chars": str(reading.text_chars), "images": str(reading.images)}
        yield Finding("PDF_LINK", self.name, part=part.path, evidence=evidence)
        if reading.pages > LURE_MAX_PAGES or reading.text_chars > LURE_MAX_TEXT_CHARS:
            return
        foreign = [(url, share) for url, share in reading.links if is_foreign_link(url, message, ctx)]
        if foreign:
            url, share = max(foreign, key=lambda item: item[1])
            yield Finding("PDF_LURE_PAGE", self.name, part=part.path,
                          evidence={**evidence, "url": url.url[:300], "link_share": f"{share:.2f}"})


def _candidates(message: ParsedMessage, ctx: ScanContext) -> list[str]:
    found = dict.fromkeys(harvest_passwords(f"{message.subject}\n{message.body_text}", MAX_PASSWORDS))
    for source in ctx.password_sources:
        try:
            found.update(dict.fromkeys(source.passwords(message, ctx.envelope)))
        except Exception:  # a broken source only means fewer candidates
            continue
    return list(found)[:MAX_PASSWORDS]


def _open(data: bytes, passwords: list[str] | None) -> tuple[PdfReader | None, str | None]:
    """(document, password that opened it); (None, "locked") when a user password is needed."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if not reader.is_encrypted:
            return reader, None
        for password in passwords if passwords is not None else [""]:
            if reader.decrypt(password):
                return reader, password
    except Exception:  # damaged beyond repair, an unsupported cipher, or not a PDF after all
        return None, None
    return None, "locked"


def _read(pdf: PdfReader) -> _Reading:
    reading = _Reading()
    try:
        reading.pages = len(pdf.pages)
        pages = [pdf.pages[i] for i in range(min(reading.pages, MAX_PAGES))]
    except Exception:  # a page tree pypdf cannot walk: nothing per page to read
        return reading
    for page in pages:
        try:
            _read_page(page, reading)
        except Exception:  # one malformed page must not hide the others
            continue
    if reading.links and reading.pages <= LURE_MAX_PAGES:  # text only matters to tell a bare lure page
        for page in pages:
            try:
                reading.text_chars += _text_chars(page)
            except Exception:  # an unparseable content stream draws nothing we can count
                continue
    return reading


def _read_page(page, reading: _Reading) -> None:
    area = _area(page.get("/MediaBox")) or 612 * 792
    for annotation in list(_resolve(page.get("/Annots")) or [])[:MAX_ANNOTATIONS]:
        annotation = _resolve(annotation)
        if not isinstance(annotation, DictionaryObject):
            continue
        target = _annotation_target(annotation)
        url = make_url(target, "pdf") if target else None
        if url is not None:
            reading.links.append((url, min(_area(annotation.get("/Rect")) / area, 1.0)))
    if reading.pages > QR_MAX_PAGES:
        return  # QR lures are a page or two; long documents' pictures are figures and logos
    for xobject in _image_xobjects(page)[:MAX_IMAGES]:
        reading.images += 1
        if reading.decoded >= MAX_IMAGES:
            continue
        image = _image_of(xobject)
        if image is not None:
            reading.decoded += 1
            try:
                reading.qr.extend(decode_qr(image))
            except Exception:  # damaged image data
                continue


def _image_xobjects(page) -> list:
    try:
        xobjects = _resolve(_resolve(page.get("/Resources")).get("/XObject")) or {}
        return [x for x in (_resolve(v) for v in xobjects.values()) if x.get("/Subtype") == "/Image"]
    except Exception:  # no or malformed resources: no pictures to read
        return []


def _image_of(xobject) -> Image.Image | None:
    """The picture of an image XObject of plausible size, decoded directly: JPEG (DCT) data as is, Flate data
    of 1-bit or 8-bit gray, 8-bit RGB or 8-bit indexed-RGB samples as raw pixels (what QR generators write).
    Other encodings (JBIG2, CCITT, CMYK, 16-bit) are skipped; pypdf's own image extraction re-encodes every
    picture to PNG, which costs more than the QR decoding."""
    try:
        width, height = int(xobject.get("/Width", 0)), int(xobject.get("/Height", 0))
        bits = int(xobject.get("/BitsPerComponent", 8))
    except (TypeError, ValueError):
        return None
    if min(width, height) < MIN_SIDE or width * height > MAX_PIXELS:
        return None
    filters = _resolve(xobject.get("/Filter"))
    filters = [str(f) for f in filters] if isinstance(filters, ArrayObject) else [str(filters)] if filters else []
    space = _resolve(xobject.get("/ColorSpace"))
    try:
        if filters == ["/DCTDecode"]:
            return Image.open(io.BytesIO(xobject._data))
        if filters not in ([], ["/FlateDecode"]) or "/DecodeParms" in xobject:
            return None  # PNG predictors and other filters: not worth a decoder of our own
        if str(space) == "/DeviceGray" and bits in (1, 8):
            return Image.frombytes("1" if bits == 1 else "L", (width, height), xobject.get_data())
        if str(space) == "/DeviceRGB" and bits == 8:
            return Image.frombytes("RGB", (width, height), xobject.get_data())
        if isinstance(space, ArrayObject) and len(space) == 4 and space[0] == "/Indexed" and bits == 8 \
                and str(_resolve(space[1])) == "/DeviceRGB":
            image = Image.frombytes("P", (width, height), xobject.get_data())
            lookup = _resolve(space[3])
            image.putpalette(lookup.get_data() if hasattr(lookup, "get_data") else bytes(lookup))
            return image
    except Exception:  # truncated or inconsistent image data
        return None
    return None


def _resolve(value):
    return value.get_object() if isinstance(value, IndirectObject) else value


def _annotation_target(annotation: DictionaryObject) -> str:
    """The web address a link annotation or a button opens or submits to ("" for none)."""
    action = _resolve(annotation.get("/A"))
    if not isinstance(action, DictionaryObject):
        return ""
    kind = action.get("/S")
    if kind == "/URI":
        return _text(_resolve(action.get("/URI")))
    if kind == "/SubmitForm":
        target = _resolve(action.get("/F"))
        if isinstance(target, DictionaryObject):
            target = _resolve(target.get("/F") or target.get("/UF"))
        return _text(target)
    return ""


def _text(value) -> str:
    if isinstance(value, ByteStringObject):
        return bytes(value).decode("latin-1", "replace")
    return str(value) if isinstance(value, (str, TextStringObject)) else ""


def _text_chars(page) -> int:
    """Characters the page's content stream draws (bytes of shown strings: a rough count for CID fonts)."""
    contents = page.get_contents()
    if contents is None:
        return 0
    if len(contents.get_data()) > MAX_CONTENT_BYTES:
        return LURE_MAX_TEXT_CHARS + 1  # that much drawing is not a bare lure page
    count = 0
    for operands, operator in ContentStream(contents, page.pdf).operations:
        if operator in (b"Tj", b"'", b'"', b"TJ"):
            for operand in operands:
                items = operand if isinstance(operand, ArrayObject) else [operand]
                count += sum(len(_shown(item)) for item in items if isinstance(item, (str, bytes)))
            if count > LURE_MAX_TEXT_CHARS:
                break  # enough to know it is no bare page
    return count


def _shown(item) -> bytes:
    data = item.get_original_bytes() if hasattr(item, "get_original_bytes") else item
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    return bytes(data).strip()


def _area(box) -> float:
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        return 0.0
    return abs(x2 - x1) * abs(y2 - y1)
