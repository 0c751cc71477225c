"""Office documents without macros that are nothing but a link: a picture and a hyperlink to a phishing page.

Threat: since macros from the Internet are blocked (2022), Word, PowerPoint and Excel files are sent as
carriers of a link: one slide or page that is a picture of a "shared document" or "secure message" with the
whole picture or a button hyperlinked to a credential page. Scanners looking for macros see a clean document.
Technique: the OOXML package's relationship parts (*.rels) give every external hyperlink; the text the
document shows (w:t, a:t, shared strings) is measured; external hyperlinks are published for the URL
detectors (source "office") and a document that is pictures, next to no text and a link to a stranger's
site is a lure (a short text-only note with a link is not). Documents with a VBA project are left to the macro detectors. The first pictures of the document are
appended to `Part.children` so that the QR code reader (registered after this detector) decodes them too.
Emits: OFFICE_LINK_LURE.
Blind spots: legacy binary formats (.doc/.ppt/.xls: the hyperlinks are in binary records), RTF, links in
text boxes' fields (HYPERLINK field codes without a relationship), and text drawn in pictures ("enable
content" instructions are pictures, and we do not read text in images).
"""

from __future__ import annotations

import re
from typing import ClassVar, Iterable

from kakuri.detect.attachment_links import is_foreign_link, publish_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import OfficeKind, child_part, office_parts, open_package, read_member
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec
from kakuri.parse.urls import Url, make_url
from kakuri.unpack.filetype import sniff

LURE_MAX_TEXT_CHARS = 200
MAX_RELS = 200
MAX_TEXT_PARTS = 50
MAX_PICTURES = 4
MAX_PICTURE_BYTES = 5 * 1024 * 1024
MEDIA_CONTAINER = "office-media"  # Part.container of a picture taken out of a document for the QR reader
_PICTURE = re.compile(r"/media/[^/]+\.(png|jpe?g|gif|bmp)$")
_RELATIONSHIP = re.compile(rb"<Relationship\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb'(\w+)\s*=\s*"([^"]*)"')
_TEXT_PART = re.compile(r"^(word/document\.xml|ppt/slides/slide\d+\.xml|xl/sharedstrings\.xml)$")
_TEXT_RUN = re.compile(rb"<(?:w:t|a:t|t)(?:\s[^>]*)?>([^<]*)</")


class OfficeLures:
    name: ClassVar[str] = "office_lures"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("OFFICE_LINK_LURE", "office", "An Office document of pictures and next to no text whose hyperlink "
                   "goes to a stranger's site (no macros)"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in office_parts(message):
            if kind is OfficeKind.OOXML:
                yield from self._check_package(part, message, ctx)

    def _check_package(self, part: Part, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        package = open_package(part.data)
        if package is None:
            return
        with package:
            names = package.namelist()
            if any(name.lower().endswith("vbaproject.bin") for name in names):
                return  # a macro document: office_macros judges it
            _extract_pictures(part, package, names)
            links = _hyperlinks(package, names)
            if not links:
                return
            text_chars = _text_chars(package, names)
            images = sum(1 for name in names if "/media/" in name.lower() and not name.endswith("/"))
        publish_urls(ctx, links)
        foreign = [url for url in links if is_foreign_link(url, message, ctx)]
        if foreign and images and text_chars <= LURE_MAX_TEXT_CHARS:
            yield Finding("OFFICE_LINK_LURE", self.name, part.path, {
                "filename": part.filename or "", "url": foreign[0].url[:300], "host": foreign[0].host,
                "text_chars": str(text_chars), "images": str(images), "links": str(len(links))})


def _extract_pictures(part: Part, package, names: list[str]) -> None:
    """The document's pictures as children, for the QR code reader (which runs after this detector)."""
    pictures = [n for n in names if _PICTURE.search(n.lower())][:MAX_PICTURES]
    for name in pictures:
        data = read_member(package, name, MAX_PICTURE_BYTES)
        child = child_part(part, name, data, MEDIA_CONTAINER) if len(data) >= 64 else None
        if child is not None:
            child.true_type = sniff(data)


def _hyperlinks(package, names: list[str]) -> list[Url]:
    urls: list[Url] = []
    for name in [n for n in names if n.lower().endswith(".rels")][:MAX_RELS]:
        for element in _RELATIONSHIP.findall(read_member(package, name)):
            attributes = {k.lower(): v for k, v in _ATTRIBUTE.findall(element)}
            if attributes.get(b"targetmode", b"").lower() != b"external":
                continue
            if not attributes.get(b"type", b"").lower().endswith(b"/hyperlink"):
                continue
            url = make_url(attributes.get(b"target", b"").decode("utf-8", "replace").replace("&amp;", "&"), "office")
            if url is not None:
                urls.append(url)
    return urls


def _text_chars(package, names: list[str]) -> int:
    count = 0
    for name in [n for n in names if _TEXT_PART.match(n.lower())][:MAX_TEXT_PARTS]:
        count += sum(len(run.strip()) for run in _TEXT_RUN.findall(read_member(package, name)))
        if count > LURE_MAX_TEXT_CHARS:
            break
    return count
