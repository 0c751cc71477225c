"""QR codes in images and PDFs that send the reader to a web page ("quishing").

Threat: mail whose lure is a QR code ("scan to keep your mailbox", "scan to sign the document"): the link is a
picture, so URL filters and link rewriting never see it, and the victim opens it on an unmanaged phone.
Technique: every image part of plausible size (attached or inline, images inside archives and pages, and
pictures written into the HTML body as data: URIs) is decoded with
zxing-cpp (QR and Micro QR only); PDFs' page images are decoded by `detect.pdf_links`, which shares what it
found through `ScanContext.facts` (QR_FACT). Decoded web addresses are published as links (source "qr") so the
URL detectors judge them like body links.
Limits: images under 60 px a side (trackers, icons, spacers) or over 12 Mpx are skipped, big ones are
downscaled to 1600 px before decoding, and at most MAX_IMAGES per message are tried.
Emits: QR_CODE_URL (a QR code holds a web address), QR_CODE_LINK (the address is on a site that is neither the
sender's, ours nor a partner's, in a mail with little text of its own: the code is the message).
Blind spots: QR codes drawn with HTML tables or text characters, codes split over several images, codes that
only decode after heavy distortion correction; nothing is fetched, so where the address leads stays unknown.
"""

from __future__ import annotations

import io
import warnings
from typing import ClassVar, Iterable

import zxingcpp
from PIL import Image

from kakuri.detect.attachment_links import is_foreign_link, publish_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.script_literals import data_uris
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec
from kakuri.parse.urls import make_url

QR_FACT = "qr.codes"  # [(part path, decoded text)] from parts this detector does not read itself (PDF pages)
IMAGE_TYPES = frozenset({"png", "jpeg", "gif", "bmp", "webp", "tiff"})
MIN_SIDE = 60
MAX_PIXELS = 12_000_000
DECODE_SIDE = 1600
MAX_IMAGES = 8
MAX_IMAGE_BYTES = 8 * 1024 * 1024
LITTLE_TEXT_CHARS = 800  # body text of a "scan this code" mail; newsletters and letters run longer
_FORMATS = zxingcpp.BarcodeFormat.QRCode | zxingcpp.BarcodeFormat.MicroQRCode


def decode_qr(image: Image.Image) -> list[str]:
    """The texts of the QR codes in `image` ([] when none); the image is converted and downscaled here."""
    if min(image.size) < MIN_SIDE or image.size[0] * image.size[1] > MAX_PIXELS:
        return []
    if image.mode not in ("L", "RGB"):
        # Transparent codes are drawn on white by mail clients: flatten on white, not on black.
        rgba = image.convert("RGBA")
        image = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image.alpha_composite(rgba)
    gray = image.convert("L")
    if max(gray.size) > DECODE_SIDE:
        gray.thumbnail((DECODE_SIDE, DECODE_SIDE))
    return [result.text for result in zxingcpp.read_barcodes(gray, formats=_FORMATS) if result.text]


def is_image(part: Part) -> bool:
    return (part.true_type or "") in IMAGE_TYPES or (
        part.content_type.lower().startswith("image/") and part.content_type.lower() != "image/svg+xml")


def open_image(data: bytes) -> Image.Image | None:
    """A lazily decoded image whose header says it is of plausible size, or None."""
    if len(data) > MAX_IMAGE_BYTES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette/transparency notes on hostile files are not our concern
            image = Image.open(io.BytesIO(data))
    except Exception:  # not an image PIL can read: nothing to decode
        return None
    width, height = image.size
    if min(width, height) < MIN_SIDE or width * height > MAX_PIXELS:
        return None
    return image


class QrCodes:
    name: ClassVar[str] = "qr_codes"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("QR_CODE_URL", "qr", "An image or PDF page holds a QR code with a web address"),
        SymbolSpec("QR_CODE_LINK", "qr",
                   "A QR code leads to a site that is neither the sender's, ours nor a partner's, in a mail with "
                   "little text of its own"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        codes = list(ctx.facts.get(QR_FACT, ()))
        tried = 0
        for part in message.walk_parts():
            if tried >= MAX_IMAGES:
                break
            if not is_image(part):
                continue
            image = open_image(part.data)
            if image is None:
                continue
            tried += 1
            try:
                codes.extend((part.path, text) for text in decode_qr(image))
            except Exception:  # truncated or hostile image data: undecodable is not a finding
                continue
        for index, data in enumerate(_body_images(message)):
            if tried >= MAX_IMAGES:
                break
            image = open_image(data)
            if image is None:
                continue
            tried += 1
            try:
                codes.extend((f"[body image {index + 1}]", text) for text in decode_qr(image))
            except Exception:  # undecodable inline picture
                continue
        urls = [(path, url) for path, text in codes if (url := make_url(text.strip(), "qr")) is not None]
        if not urls:
            return
        publish_urls(ctx, [url for _, url in urls])
        path, first = urls[0]
        yield Finding("QR_CODE_URL", self.name, part=path,
                      evidence={"url": first.url[:300], "host": first.host, "count": str(len(urls))})
        text_chars = len(" ".join(message.body_text.split()))
        for path, url in urls:
            if text_chars <= LITTLE_TEXT_CHARS and is_foreign_link(url, message, ctx):
                yield Finding("QR_CODE_LINK", self.name, part=path, evidence={
                    "url": url.url[:300], "host": url.host, "body_chars": str(text_chars)})
                return



def _body_images(message: ParsedMessage) -> Iterable[bytes]:
    """Pictures written into the HTML body itself as data: URIs (no MIME part of their own)."""
    for html in message.html:
        if "data:image" in html:
            yield from (data for kind, data in data_uris(html) if kind.startswith("image/") and kind != "image/svg+xml")
