import json

import pytest

from kakuri.detect.file_types import FileTypes
from kakuri.detect.iocs import Iocs
from kakuri.detect.pdf import Pdf
from kakuri.model import Action, Part
from kakuri.pipeline import Scanner
from tests.builders import make_message
from tests.builders_archive import LNK_HEADER, PE_STUB, iso_of, onenote_with, tnef_with, zip_of

PE = PE_STUB
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 300
LNK = LNK_HEADER
CHM = b"ITSF\x03\x00\x00\x00" + b"\x00" * 200
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
JSCRIPT = b'var sh = new ActiveXObject("WScript.Shell");\nsh.Run("cmd /c calc", 0);\n'


def ooxml(kind: str = "xl") -> bytes:
    return zip_of({
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="x"/>',
        f"{kind}/workbook.xml" if kind == "xl" else f"{kind}/document.xml": b"<?xml version='1.0'?><w/>",
    })


def scan(settings, *attachments):
    result = Scanner(settings, detectors=[FileTypes()]).scan(make_message(attachments=list(attachments)))
    return result.verdict


def found(verdict, symbol=None):
    hits = [f for f in verdict.findings if f.detector == "file_types"]
    return [f for f in hits if f.symbol == symbol] if symbol else hits


def test_executable_inside_zip_is_flagged_at_depth_and_quarantined(settings):
    verdict = scan(settings, ("請求書.zip", zip_of({"請求書_0912.exe": PE}), "application/zip"))
    hit = found(verdict, "FILE_EXECUTABLE")
    assert [f.part for f in hit] == ["請求書.zip/請求書_0912.exe"]
    assert hit[0].evidence["by"] == "content"
    assert verdict.action is Action.QUARANTINE


def test_pe_named_pdf_is_a_disguised_executable(settings):
    verdict = scan(settings, ("invoice.pdf", PE, "application/pdf"))
    assert found(verdict, "FILE_EXECUTABLE") and found(verdict, "FILE_DISGUISED_EXECUTABLE")
    assert not found(verdict, "FILE_TYPE_MISMATCH")


def test_elf_without_any_extension_is_an_executable(settings):
    assert found(scan(settings, ("update", ELF)), "FILE_EXECUTABLE")


@pytest.mark.parametrize("name", ["見積書.js", "a.JSE", "run.vbs", "page.hta", "x.ps1", "go.bat", "job.wsf", "c.cmd"])
def test_script_extensions_are_flagged(settings, name):
    verdict = scan(settings, ("files.zip", zip_of({name: b"x = 1\n"})))
    assert [f.evidence["by"] for f in found(verdict, "FILE_SCRIPT")] == ["name"]
    assert verdict.action is Action.QUARANTINE


@pytest.mark.parametrize(
    "code",
    [
        JSCRIPT,
        b'Set o = CreateObject("WScript.Shell")\r\no.Run "powershell"\r\n',
        b"powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA\n",
        b"<html><head><HTA:APPLICATION ID='x'></head><body></body></html>",
        "\ufeffvar s = WScript.CreateObject('WScript.Shell');".encode("utf-16-le"),
    ],
)
def test_script_code_under_a_harmless_name_is_a_script(settings, code):
    verdict = scan(settings, ("readme.txt", code, "text/plain"))
    hits = found(verdict, "FILE_SCRIPT")
    assert hits and hits[0].evidence["by"] == "content"


def test_text_that_only_talks_about_powershell_is_clean(settings):
    text = "PowerShell を管理者として実行し、Get-Help で手順を確認してください。\nWScript の説明は別紙参照。\n"
    assert found(scan(settings, ("手順.txt", text.encode("utf-8"), "text/plain"))) == []


def test_lnk_is_a_shortcut_by_name_and_by_content(settings):
    assert found(scan(settings, ("document.lnk", LNK)), "FILE_SHORTCUT")
    disguised = scan(settings, ("photo.jpg", LNK, "image/jpeg"))
    assert found(disguised, "FILE_SHORTCUT") and found(disguised, "FILE_DISGUISED_EXECUTABLE")


def test_url_shortcut_to_a_share_is_a_shortcut_but_a_web_link_is_milder(settings):
    unc = b"[InternetShortcut]\r\nURL=file://\\\\198.51.100.7\\share\\invoice.exe\r\n"
    web = b"[InternetShortcut]\r\nURL=https://portal.example/login\r\n"
    unc_verdict = scan(settings, ("invoice.url", unc))
    assert found(unc_verdict, "FILE_SHORTCUT")[0].evidence["target"].startswith("file://")
    web_verdict = scan(settings, ("portal.url", web))
    assert found(web_verdict, "FILE_URL_SHORTCUT") and not found(web_verdict, "FILE_SHORTCUT")


@pytest.mark.parametrize("target", ["http://198.51.100.9/x", "https://cdn.example/update/setup.hta",
                                    "https://files.example/s/inv.js?dl=1"])
def test_web_shortcut_that_fetches_a_program_or_opens_an_ip_is_a_shortcut(settings, target):
    data = f"[InternetShortcut]\r\nURL={target}\r\n".encode()
    assert found(scan(settings, ("invoice.url", data)), "FILE_SHORTCUT")


@pytest.mark.parametrize("name", ["invoice.scf", "x.settingcontent-ms", "a.library-ms"])
def test_other_windows_shortcut_formats_are_shortcuts(settings, name):
    assert found(scan(settings, (name, b"[Shell]\r\nCommand=2\r\n")), "FILE_SHORTCUT")


def test_disk_image_is_flagged_by_content_and_its_shortcut_inside_too(settings):
    verdict = scan(settings, ("scan_0912.bin", iso_of({"請求書.pdf.lnk": LNK, "readme.txt": b"hello"})))
    assert found(verdict, "FILE_DISK_IMAGE")[0].part == "scan_0912.bin"
    assert [f.part for f in found(verdict, "FILE_SHORTCUT")] == ["scan_0912.bin/請求書.pdf.lnk"]


def test_disk_image_is_flagged_by_name(settings):
    verdict = scan(settings, ("invoice.vhdx", b"not really a disk"))
    assert found(verdict, "FILE_DISK_IMAGE") and verdict.action is Action.QUARANTINE


def test_onenote_chm_and_java_are_flagged(settings):
    onenote = scan(settings, ("notes.bin", onenote_with([b"<html><HTA:APPLICATION /></html>"])))
    assert found(onenote, "FILE_ONENOTE") and found(onenote, "FILE_SCRIPT")
    assert found(scan(settings, ("help.chm", CHM)), "FILE_CHM")
    jar = zip_of({"META-INF/MANIFEST.MF": b"Main-Class: a.B\n", "a/B.class": b"\xca\xfe\xba\xbe"})
    java = scan(settings, ("payment.zip", jar))
    assert {f.part for f in found(java, "FILE_JAVA")} == {"payment.zip", "payment.zip/a/B.class"}
    assert not found(java, "FILE_DISGUISED_EXECUTABLE") and not found(java, "FILE_EXECUTABLE")


@pytest.mark.parametrize("name", ["invoice.pdf.exe", "report.doc      .js", "写真.jpg.scr", "scan.pdf.iso"])
def test_decoy_extension_in_front_of_a_runnable_one_is_flagged(settings, name):
    hits = found(scan(settings, (name, b"payload")), "FILE_DOUBLE_EXTENSION")
    assert hits and hits[0].evidence["decoy"] in {"pdf", "doc", "jpg"}


def test_padded_double_extension_is_marked_padded(settings):
    hit = found(scan(settings, ("report.doc      .js", b"x")), "FILE_DOUBLE_EXTENSION")[0]
    assert hit.evidence["padded"] == "true"


@pytest.mark.parametrize("name", ["backup.tar.gz", "議事録.2020.09.pdf", "v1.2.docx", "report.pdf.zip"])
def test_dotted_benign_names_are_not_double_extensions(settings, name):
    assert found(scan(settings, (name, b"x")), "FILE_DOUBLE_EXTENSION") == []


def test_rtlo_in_a_file_name_is_a_unicode_trick(settings):
    verdict = scan(settings, ("invoice\u202efdp.exe", PE))
    hit = found(verdict, "FILE_UNICODE_TRICK")[0]
    assert hit.evidence["characters"] == "U+202E" and hit.weight == 1.0


def test_zero_width_characters_alone_count_at_half_weight(settings):
    hit = found(scan(settings, ("見積\u200b書.pdf", PDF)), "FILE_UNICODE_TRICK")[0]
    assert hit.weight == 0.5


def test_zip_named_doc_is_a_mild_mismatch(settings):
    verdict = scan(settings, ("contract.doc", zip_of({"a.txt": b"hello"})))
    hit = found(verdict, "FILE_TYPE_MISMATCH")
    assert hit and hit[0].evidence["true_type"] == "zip"
    assert verdict.action is Action.DELIVER


def test_legitimate_office_variants_are_not_mismatches(settings):
    verdict = scan(
        settings,
        ("売上.xlsx", ooxml("xl")),
        ("議事録.docx", ooxml("word")),
        ("protected.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600),  # encrypted OOXML is OLE
        ("export.xls", b"<html><body><table><tr><td>1</td></tr></table></body></html>"),
    )
    assert found(verdict) == []


def test_ordinary_business_attachments_stay_clean(settings):
    ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:定例会議\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".encode()
    vcf = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Taro Yamada\r\nEND:VCARD\r\n"
    eml = make_message(subject="Fwd: 見積", body="転送します")
    verdict = scan(
        settings,
        ("invoice_202009.pdf", PDF, "application/pdf"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png"),
        ("screenshot.jpg", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/jpeg"),
        ("invite.ics", ics, "text/calendar"),
        ("smime.p7s", b"\x30\x82\x05\x10\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02" + b"\x00" * 64,
         "application/pkcs7-signature"),
        ("forward.eml", eml, "application/octet-stream"),
        ("memo.txt", "よろしくお願いします。".encode("shift_jis"), "text/plain"),
        ("data.csv", "品番,数量\nA-1,10\n".encode("utf-8"), "text/csv"),
        ("documents.zip", zip_of({"a.pdf": PDF, "b.pdf": PDF})),
        ("winmail.dat", tnef_with({"quote.pdf": PDF}), "application/ms-tnef"),
        ("contact.vcf", vcf, "text/vcard"),
        ("売上.xlsx", ooxml("xl")),
    )
    assert found(verdict) == []
    assert verdict.action is Action.DELIVER


@pytest.mark.parametrize("data", [b"", b"MZ", b"\x00" * 10, b"PK\x03\x04broken", bytes(range(256)) * 50])
def test_malformed_or_empty_content_never_raises(data):
    for name in ("x.exe", "y.pdf", "z", "w.url", "...", "\u202e"):
        list(FileTypes().check_part(Part(path=name, data=data, filename=name)))


def test_encrypted_member_is_judged_by_its_name_only(settings):
    part = Part(path="a.zip/b.doc", data=b"", filename="b.doc", encrypted=True, true_type="encrypted", depth=1)
    assert list(FileTypes().check_part(part)) == []
    exe = Part(path="a.zip/b.exe", data=b"", filename="b.exe", encrypted=True, true_type="encrypted", depth=1)
    assert [f.symbol for f in FileTypes().check_part(exe)] == ["FILE_EXECUTABLE"]


def test_corpus_script_and_eicar_mail_fire_and_benign_mail_stays_below_quarantine(settings, shared_dir):
    """The shared corpus through the real pipeline, with only this area's detectors."""
    scanner = Scanner(settings, detectors=[FileTypes(), Pdf(), Iocs.from_settings(settings)])
    ours = {"file_types", "pdf", "iocs"}
    corpus = shared_dir / "corpus"
    for line in (corpus / "labels.jsonl").read_text().splitlines():
        label = json.loads(line)
        verdict = scanner.scan((corpus / label["file"]).read_bytes()).verdict
        symbols = {f.symbol for f in verdict.findings if f.detector in ours}
        if label["family"] == "zip_script":
            assert symbols & {"FILE_EXECUTABLE", "FILE_SCRIPT"}, label["file"]
            assert verdict.action is Action.QUARANTINE, label["file"]
        elif label["family"] == "eicar":
            assert "IOC_EICAR" in symbols and verdict.action is Action.QUARANTINE, label["file"]
        elif label["label"] == "benign":
            assert verdict.action.severity < Action.QUARANTINE.severity, (label["file"], symbols)
