import io

import segno
from PIL import Image

from kakuri.detect.attachment_links import attachment_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.qr_codes import QR_FACT, QrCodes
from kakuri.model import Action
from kakuri.model.knowledge import StaticKnowledge
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from tests.builders import make_message


def qr_png(text: str, scale: int = 8, transparent: bool = False) -> bytes:
    out = io.BytesIO()
    segno.make(text).save(out, kind="png", scale=scale, border=4, light=None if transparent else "white")
    return out.getvalue()


def photo_png(size=(400, 300)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 50).convert("RGB").save(out, "PNG")
    return out.getvalue()


def scan(raw: bytes, facts: dict | None = None):
    ctx = ScanContext(knowledge=StaticKnowledge(our_domains=frozenset({"tokai-keiki.example"})))
    ctx.facts.update(facts or {})
    findings = {f.symbol: dict(f.evidence) for f in QrCodes().check(parse_message(raw), ctx)}
    return findings, ctx


def test_qr_code_to_a_strangers_site_in_a_short_mail_is_a_qr_link():
    raw = make_message(body="Scan the code to keep your mailbox active.\n", from_="IT <it@mailer.example>",
                       attachments=[("scan.png", qr_png("https://mbox-keep.lure-host.example/?u=hanako"), "image/png")])
    findings, ctx = scan(raw)
    assert findings["QR_CODE_LINK"]["host"] == "mbox-keep.lure-host.example"
    assert findings["QR_CODE_URL"]["count"] == "1"
    assert [(u.host, u.source, u.is_link) for u in attachment_urls(ctx)] == [("mbox-keep.lure-host.example", "qr", True)]


def test_transparent_qr_code_is_read_as_a_mail_client_shows_it():
    raw = make_message(body="Scan me\n", attachments=[("q.png", qr_png("https://x.lure-host.example/", transparent=True),
                                                       "image/png")])
    assert "QR_CODE_LINK" in scan(raw)[0]


def test_event_flyer_qr_to_the_senders_own_domain_is_only_context():
    raw = make_message(from_="Events <events@fair-organiser.example>", body="See you at the fair!\n",
                       attachments=[("flyer.png", qr_png("https://www.fair-organiser.example/2026/register"),
                                     "image/png")])
    findings, _ = scan(raw)
    assert set(findings) == {"QR_CODE_URL"}


def test_photos_and_tiny_trackers_yield_nothing():
    pixel = io.BytesIO()
    Image.new("RGB", (1, 1)).save(pixel, "PNG")
    raw = make_message(attachments=[("photo.png", photo_png(), "image/png"), ("t.png", pixel.getvalue(), "image/png"),
                                    ("broken.jpg", b"\xff\xd8\xff\xe0not really a jpeg", "image/jpeg")])
    assert scan(raw)[0] == {}


def test_codes_found_in_pdfs_by_pdf_links_are_judged_too():
    raw = make_message(body="Please scan.\n", from_="HR <hr@mailer.example>")
    findings, _ = scan(raw, {QR_FACT: [("benefits.pdf", "https://benefit-portal.lure-host.example/")]})
    assert findings["QR_CODE_LINK"]["host"] == "benefit-portal.lure-host.example"


def test_qr_lure_with_little_text_is_at_least_tagged(settings):
    raw = make_message(body="Scan to review the shared document.\n", from_="Docs <docs@mailer.example>",
                       attachments=[("doc.png", qr_png("https://bit.ly/3qrLure"), "image/png")])
    verdict = Scanner(settings).scan(raw).verdict
    assert verdict.action in (Action.TAG, Action.QUARANTINE), verdict.reasons
    assert "QR_CODE_LINK" in {f.symbol for f in verdict.findings}


def test_qr_code_written_into_the_html_body_as_a_data_uri_is_decoded():
    import base64
    png = base64.b64encode(qr_png("https://sign.lure-host.example/d")).decode()
    raw = make_message(body="Scan", html=f'<html><body><p>Scan to sign</p><img src="data:image/png;base64,{png}">'
                                         "</body></html>", from_="Docs <docs@mailer.example>")
    findings, _ = scan(raw)
    assert findings["QR_CODE_LINK"]["host"] == "sign.lure-host.example"
