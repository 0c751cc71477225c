import io
import zipfile
import zlib

import pytest

from kakuri.detect.pdf import Pdf
from kakuri.model import Action, Part
from kakuri.pipeline import Scanner
from tests.builders import make_message

PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595.28 841.89] /Contents 4 0 R %s >>"
CONTENT = zlib.compress(b"BT /F1 12 Tf 72 760 Td (INVOICE 2020-09) Tj ET")


def make_pdf(*objects: bytes, trailer: bytes = b"") -> bytes:
    """A PDF with the given objects numbered from 1, a real xref table and trailer."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref)
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d /Filter /FlateDecode %s >>\nstream\n%s\nendstream" % (len(data), extra, data)


def invoice(catalog_extra: bytes = b"", page_extra: bytes = b"", *more: bytes) -> bytes:
    return make_pdf(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /FitH null] %s >>" % catalog_extra,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        PAGE % page_extra,
        stream(CONTENT),
        *more,
    )


def symbols_of(data: bytes, name: str = "document.pdf") -> dict[str, dict]:
    return {f.symbol: dict(f.evidence) for f in Pdf().check_part(Part(path=name, data=data, filename=name))}


def test_javascript_run_by_openaction_is_flagged():
    pdf = make_pdf(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        PAGE % b"",
        b"<< /S /JavaScript /JS (app.launchURL\\('http://198.51.100.9/x'\\);) >>",
    )
    found = symbols_of(pdf)
    assert {"PDF_JAVASCRIPT", "PDF_AUTO_ACTION"} <= set(found)
    assert found["PDF_AUTO_ACTION"]["triggers"] == "OpenAction"
    assert "PDF_OBFUSCATED_NAME" not in found


def test_hex_escaped_names_are_seen_and_called_obfuscation():
    pdf = invoice(b"/AA << /O 5 0 R >>", b"", b"<< /S /J#61vaScript /#4a#53 (this.print\\(\\)) >>")
    assert pdf.count(b"JavaScript") == 0
    found = symbols_of(pdf)
    assert {"PDF_JAVASCRIPT", "PDF_AUTO_ACTION", "PDF_OBFUSCATED_NAME"} <= set(found)
    assert found["PDF_OBFUSCATED_NAME"]["names"] == "JS, JavaScript"


def test_javascript_inside_a_compressed_object_stream_is_found():
    hidden = b"5 0 6 0 << /S /JavaScript /JS (app.alert\\(1\\)) >> << /Names [(a) 5 0 R] >>"
    objstm = stream(zlib.compress(hidden), b"/Type /ObjStm /N 2 /First 8")
    pdf = invoice(b"/Names << /JavaScript 6 0 R >>", b"", objstm)
    assert b"/JS" not in pdf
    assert "PDF_JAVASCRIPT" in symbols_of(pdf)


def test_launch_action_names_the_program_it_starts():
    action = b"<< /S /Launch /Win << /F (C:\\\\Windows\\\\System32\\\\cmd.exe) /P (/c calc) >> >>"
    found = symbols_of(make_pdf(b"<< /Type /Catalog /OpenAction 2 0 R >>", action))
    assert {"PDF_LAUNCH", "PDF_AUTO_ACTION", "PDF_EMBEDDED_EXECUTABLE"} <= set(found)
    assert "cmd.exe" in found["PDF_LAUNCH"]["targets"]


def test_embedded_executable_is_flagged_and_embedded_xml_invoice_data_is_mild(settings):
    def with_attachment(name: bytes) -> bytes:
        return invoice(
            b"/Names << /EmbeddedFiles << /Names [(f) 5 0 R] >> >>",
            b"",
            b"<< /Type /Filespec /F (%s) /UF <FEFF%s> /EF << /F 6 0 R >> >>" % (name, name.decode().encode("utf-16-be").hex().encode()),
            stream(zlib.compress(b"MZ payload"), b"/Type /EmbeddedFile"),
        )

    bad = symbols_of(with_attachment(b"invoice.exe"))
    assert bad["PDF_EMBEDDED_EXECUTABLE"]["names"].startswith("invoice.exe")
    good = symbols_of(with_attachment(b"factur-x.xml"))
    assert set(good) == {"PDF_EMBEDDED_FILE"}
    verdict = Scanner(settings, detectors=[Pdf()]).scan(
        make_message(attachments=[("請求書.pdf", with_attachment(b"factur-x.xml"), "application/pdf")])
    ).verdict
    assert verdict.action is Action.DELIVER


def test_executable_embedded_under_a_document_name_is_found_by_its_bytes():
    pe = b"MZ" + b"\x90" * 58 + (64).to_bytes(4, "little") + b"PE\x00\x00" + b"\x00" * 200
    pdf = invoice(
        b"/Names << /EmbeddedFiles << /Names [(f) 5 0 R] >> >>",
        b"",
        b"<< /Type /Filespec /F (scan.pdf) /EF << /F 6 0 R >> >>",
        stream(zlib.compress(pe), b"/Type /EmbeddedFile"),
    )
    found = symbols_of(pdf)
    assert found["PDF_EMBEDDED_EXECUTABLE"]["content"] == "pe"
    assert found["PDF_EMBEDDED_EXECUTABLE"]["names"] == ""


def test_one_page_pdf_that_is_one_big_link_is_a_lure_but_a_footer_link_is_not():
    def with_link(rect: bytes) -> bytes:
        annot = b"<< /Type /Annot /Subtype /Link /Rect %s /A << /S /URI /URI (https://files.example/view?id=1) >> >>"
        return invoice(b"", b"/Annots [5 0 R]", annot % rect)

    lure = symbols_of(with_link(b"[40 200 555 700]"))
    assert lure["PDF_URI_LURE"]["uri"] == "https://files.example/view?id=1"
    assert symbols_of(with_link(b"[72 40 240 52]")) == {}


def test_benign_invoice_pdf_passes(settings):
    pdf = invoice(b"/Metadata 5 0 R", b"", b"<< /Author (Akemi Fujita) /Creator (Microsoft Word) >>")
    assert symbols_of(pdf) == {}
    verdict = Scanner(settings, detectors=[Pdf()]).scan(
        make_message(attachments=[("請求書_2020年8月分.pdf", pdf, "application/pdf")])
    ).verdict
    assert [f for f in verdict.findings if f.detector == "pdf"] == []


def test_encrypted_and_xfa_pdfs_are_reported_mildly():
    found = symbols_of(invoice(b"/AcroForm << /XFA 5 0 R >>", b"", b"<< /Filter /Standard /V 2 >>") .replace(
        b"/Root 1 0 R", b"/Root 1 0 R /Encrypt 5 0 R"))
    assert {"PDF_XFA", "PDF_ENCRYPTED"} <= set(found)


def test_pdf_with_javascript_inside_a_zip_is_found_through_the_pipeline(settings):
    pdf = invoice(b"/AA << /O 5 0 R >>", b"", b"<< /S /JavaScript /JS (x) >>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan_0912.pdf", pdf)
    verdict = Scanner(settings, detectors=[Pdf()]).scan(make_message(attachments=[("scan.zip", buffer.getvalue())])).verdict
    parts = {f.part for f in verdict.findings if f.symbol == "PDF_JAVASCRIPT"}
    assert parts == {"scan.zip/scan_0912.pdf"}


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-",
        b"%PDF-1.5\n1 0 obj << /Type /ObjStm /N 1 >> stream\nnot zlib at all",
        b"%PDF-1.5\n<< /Type /ObjStm >>\nstream\n" + zlib.compress(b"/JS (x)" * 10)[:-6],
        b"%PDF-1.4\n/URI (x) /Rect [a b c d] /MediaBox [0 0 0 0] /Type /Page /F (\\",
        b"%PDF-1.4\n" + b"/EmbeddedFile /F <zz> /UF (\\777) " * 1000,
    ],
)
def test_malformed_pdfs_do_not_raise(data):
    symbols_of(data)


def test_object_stream_bomb_is_inflated_only_up_to_the_cap():
    bomb = zlib.compress(b"\x00" * (20 * 1024 * 1024) + b"/JS (x)")
    pdf = invoice(b"", b"", stream(bomb, b"/Type /ObjStm /N 1 /First 4"))
    assert "PDF_JAVASCRIPT" not in symbols_of(pdf)


def test_pdf_behind_junk_bytes_is_still_scanned():
    pdf = invoice(b"/OpenAction 5 0 R", b"", b"<< /S /JavaScript /JS (x) >>")
    assert "PDF_JAVASCRIPT" in symbols_of(b"\x01garbage\x02" * 20 + pdf)


def test_a_backslash_before_8_or_9_in_a_string_is_the_digit_itself():
    # Found by fuzzing: "\\8" was read as an octal escape and the detector failed.
    pdf = make_pdf(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        PAGE % b"",
        b"<< /S /Launch /F (c:\\\\windows\\\\9\\8cmd.exe) >>",
    )
    assert "PDF_LAUNCH" in symbols_of(pdf)
