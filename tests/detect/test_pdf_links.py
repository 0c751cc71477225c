import io
import zlib

import segno
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.annotations import Link

from kakuri.detect.attachment_links import attachment_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.pdf_links import LURE_MAX_TEXT_CHARS, PdfLinks
from kakuri.detect.qr_codes import QR_FACT
from kakuri.model import Action
from kakuri.model.knowledge import StaticKnowledge
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from tests.builders import make_message
from tests.detect.test_pdf import make_pdf, stream

LURE_URL = "https://view-document.lure-host.example/secure/"


def picture_pdf(image: Image.Image) -> bytes:
    """A one-page PDF that is nothing but a picture (what scanned or rendered lures are)."""
    out = io.BytesIO()
    image.convert("RGB").save(out, "PDF")
    return out.getvalue()


def invoice_picture() -> Image.Image:
    image = Image.new("RGB", (600, 800), "white")
    image.paste((40, 90, 200), (50, 600, 550, 680))  # the big "VIEW DOCUMENT" button, drawn
    return image


def with_link(pdf: bytes, url: str, rect=(30, 120, 570, 240), password: str | None = None) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_annotation(page_number=0, annotation=Link(rect=rect, url=url))
    if password:
        writer.encrypt(password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def letter_pdf(url: str) -> bytes:
    """A real letter: a page of text, and one link to the company's site in the footer."""
    lines = b"".join(b"BT /F1 10 Tf 72 %d Td (Item %d: calibration service for pressure gauges, 12,000 JPY) Tj ET\n"
                     % (760 - 14 * i, i) for i in range(40))
    return make_pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots [5 0 R] >>",
        stream(zlib.compress(lines)),
        b"<< /Type /Annot /Subtype /Link /Rect [72 20 200 32] /A << /S /URI /URI (%s) >> >>" % url.encode(),
    )


def scan_pdf(pdf: bytes, body: str = "Please find the document attached.\n", from_: str = "Billing <billing@sender.example>"):
    raw = make_message(from_=from_, body=body, attachments=[("document.pdf", pdf, "application/pdf")])
    message = parse_message(raw)
    ctx = ScanContext(knowledge=StaticKnowledge(our_domains=frozenset({"tokai-keiki.example"})))
    findings = {f.symbol: dict(f.evidence) for f in PdfLinks().check(message, ctx)}
    return findings, ctx


def test_picture_with_a_big_link_to_a_stranger_is_a_lure_page_and_its_link_is_published():
    findings, ctx = scan_pdf(with_link(picture_pdf(invoice_picture()), LURE_URL))
    assert findings["PDF_LURE_PAGE"]["url"] == LURE_URL
    assert float(findings["PDF_LURE_PAGE"]["link_share"]) > 0.1
    assert [u.url for u in attachment_urls(ctx)] == [LURE_URL]
    assert attachment_urls(ctx)[0].is_link


def test_locked_pdf_is_opened_with_the_password_in_the_body():
    pdf = with_link(picture_pdf(invoice_picture()), LURE_URL, password="4711")
    findings, _ = scan_pdf(pdf, body="Your statement is attached.\nPassword: 4711\n")
    assert findings["PDF_PASSWORD_IN_MESSAGE"]["password"] == "4711"
    assert "PDF_LURE_PAGE" in findings


def test_locked_pdf_without_its_password_is_reported_unscanned():
    pdf = with_link(picture_pdf(invoice_picture()), LURE_URL, password="4711")
    findings, ctx = scan_pdf(pdf)
    assert set(findings) == {"PDF_LOCKED"}
    assert attachment_urls(ctx) == []


def test_qr_code_on_a_pdf_page_is_decoded_for_the_qr_detector():
    code = io.BytesIO()
    segno.make("https://mfa-reset.lure-host.example/m").save(code, kind="png", scale=10, border=4)
    page = invoice_picture()
    page.paste(Image.open(code), (150, 150))
    _, ctx = scan_pdf(picture_pdf(page))
    assert [text for _, text in ctx.facts[QR_FACT]] == ["https://mfa-reset.lure-host.example/m"]


def test_invoice_letter_linking_to_the_senders_site_is_no_lure():
    findings, ctx = scan_pdf(letter_pdf("https://www.sender.example/contact"))
    assert set(findings) == {"PDF_LINK"}
    assert int(findings["PDF_LINK"]["text_chars"]) > LURE_MAX_TEXT_CHARS
    assert attachment_urls(ctx)[0].host == "www.sender.example"


def test_bare_picture_linking_to_the_senders_own_site_is_no_lure():
    findings, _ = scan_pdf(with_link(picture_pdf(invoice_picture()), "https://www.sender.example/fair-2026"))
    assert "PDF_LURE_PAGE" not in findings


def test_damaged_pdf_yields_nothing_and_does_not_raise():
    findings, _ = scan_pdf(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n%%EOF")
    assert findings == {}


def test_locked_lure_with_password_in_body_is_quarantined(settings):
    pdf = with_link(picture_pdf(invoice_picture()), LURE_URL, password="4711")
    raw = make_message(from_="Billing <billing@sender.example>", body="Statement attached. Password: 4711\n",
                       attachments=[("statement.pdf", pdf, "application/pdf")])
    verdict = Scanner(settings).scan(raw).verdict
    assert verdict.action is Action.QUARANTINE, verdict.reasons


def qr_image_pdf(mode: str) -> bytes:
    """A page showing a QR code as QR generators write it into PDFs: Flate-compressed raw samples."""
    import segno
    buffer = io.BytesIO()
    segno.make("https://scan.lure-host.example/q").save(buffer, kind="png", scale=6, border=4)
    image = Image.open(buffer).convert("L" if mode == "gray" else "1")
    if mode == "indexed":
        image = image.convert("RGB").quantize(4)
    width, height = image.size
    if mode == "indexed":
        palette = bytes(image.getpalette()[:12])
        space, bits = b"[/Indexed /DeviceRGB 3 <%s>]" % palette.hex().encode(), 8
    else:
        space, bits = b"/DeviceGray", 1 if mode == "bitonal" else 8
    samples = zlib.compress(image.tobytes())
    return make_pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /XObject << /Im1 5 0 R >> >> >>",
        stream(zlib.compress(b"q 200 0 0 200 100 500 cm /Im1 Do Q")),
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent %d "
        b"/Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (width, height, space, bits, len(samples), samples),
    )


def test_qr_codes_in_bitonal_gray_and_indexed_page_images_are_decoded():
    for mode in ("bitonal", "gray", "indexed"):
        _, ctx = scan_pdf(qr_image_pdf(mode))
        assert [text for _, text in ctx.facts.get(QR_FACT, [])] == ["https://scan.lure-host.example/q"], mode
