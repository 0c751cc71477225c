import io
import zipfile

from kakuri.detect.attachment_links import attachment_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.office_lures import OfficeLures
from kakuri.parse.mime import parse_message
from kakuri.unpack.limits import UnpackLimits
from kakuri.unpack.walker import unpack_message
from tests.builders import make_message

CONTENT_TYPES = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
HYPERLINK = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"
IMAGE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"


def pptx(slide_text: str, url: str, macros: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("[Content_Types].xml", CONTENT_TYPES)
        package.writestr("ppt/slides/slide1.xml", f'<p:sld xmlns:a="a" xmlns:p="p"><a:t>{slide_text}</a:t></p:sld>')
        package.writestr("ppt/slides/_rels/slide1.xml.rels", (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{IMAGE}" Target="../media/image1.png"/>'
            f'<Relationship Id="rId2" Type="{HYPERLINK}" Target="{url.replace("&", "&amp;")}" TargetMode="External"/>'
            '</Relationships>'))
        package.writestr("ppt/media/image1.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
        if macros:
            package.writestr("ppt/vbaProject.bin", b"\xd0\xcf\x11\xe0")
    return out.getvalue()


def scan(data: bytes, from_: str = "Sales <sales@sender.example>"):
    message = parse_message(make_message(from_=from_, attachments=[("Shared.pptx", data)]))
    unpack_message(message, UnpackLimits(), lambda: [])
    ctx = ScanContext()
    return {f.symbol: dict(f.evidence) for f in OfficeLures().check(message, ctx)}, ctx


def test_slide_that_is_a_picture_and_a_link_to_a_stranger_is_a_lure():
    findings, ctx = scan(pptx("", "https://shared-doc.lure-host.example/view?a=1&b=2"))
    assert findings["OFFICE_LINK_LURE"]["host"] == "shared-doc.lure-host.example"
    assert findings["OFFICE_LINK_LURE"]["images"] == "1"
    assert [u.url for u in attachment_urls(ctx)] == ["https://shared-doc.lure-host.example/view?a=1&b=2"]


def test_presentation_with_text_and_a_link_is_no_lure_but_its_link_is_published():
    findings, ctx = scan(pptx("Quarterly results of the gauge division. " * 20, "https://stats.other-site.example/"))
    assert findings == {}
    assert attachment_urls(ctx)[0].source == "office"


def test_bare_slide_linking_to_the_senders_own_site_is_no_lure():
    assert scan(pptx("", "https://www.sender.example/catalogue"))[0] == {}


def test_macro_documents_are_left_to_the_macro_detectors():
    assert scan(pptx("", "https://shared-doc.lure-host.example/", macros=True))[0] == {}


def test_qr_code_pictured_in_a_document_reaches_the_qr_reader():
    import segno
    from kakuri.detect.qr_codes import QrCodes
    code = io.BytesIO()
    segno.make("https://mfa.lure-host.example/r").save(code, kind="png", scale=10, border=4)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("[Content_Types].xml", CONTENT_TYPES)
        package.writestr("word/document.xml", '<w:document xmlns:w="w"><w:t>Scan to re-enrol MFA</w:t></w:document>')
        package.writestr("word/media/image1.png", code.getvalue())
    message = parse_message(make_message(body="See attached.", from_="IT <it@mailer.example>",
                                         attachments=[("MFA.docx", out.getvalue())]))
    unpack_message(message, UnpackLimits(), lambda: [])
    ctx = ScanContext()
    list(OfficeLures().check(message, ctx))
    found = {f.symbol: dict(f.evidence) for f in QrCodes().check(message, ctx)}
    assert found["QR_CODE_LINK"]["host"] == "mfa.lure-host.example"
