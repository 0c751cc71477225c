"""Embedded packages and exploit objects in OOXML, OLE and RTF; harmless embeddings stay (nearly) clean."""

import uuid

import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.office_objects import OfficeObjects, payload_danger
from kakuri.parse.mime import parse_message
from tests.builders import make_message
from tests.builders_office import (WORD_CLSID, _word_document_stream, docx, exe_stub, ole10native, ole_file,
                                   ole_package_object, office_findings, plain_rtf, rtf_with_object, symbols_of,
                                   xlsx_by_xlsxwriter)

DETECTOR = [OfficeObjects()]
EQUATION_CLSID = uuid.UUID("0002CE02-0000-0000-C000-000000000046").bytes_le
LNK = bytes.fromhex("4C0000000114020000000000C000000000000046") + b"\0" * 60


def _equation_object() -> bytes:
    return ole_file({"\x01CompObj": b"\1\0\xfe\xff" + b"\0" * 60, "Equation Native": b"\x1c\0" + b"\x41" * 60},
                    {"": EQUATION_CLSID})


@pytest.mark.parametrize("filename, payload", [
    ("invoice.exe", exe_stub()), ("invoice.pdf.lnk", LNK), ("update.js", b"WScript.Echo(1)"), ("run.hta", b"<html>"),
])
def test_packaged_executable_in_docx_is_flagged_and_extracted(filename, payload):
    data = docx(extra={"word/embeddings/oleObject1.bin": ole_package_object(filename, payload)})
    message = parse_message(make_message(attachments=[("注文書.docx", data)]))
    findings = list(OfficeObjects().check(message, ScanContext()))
    assert symbols_of(findings) == {"OFFICE_EMBEDDED_EXECUTABLE"}
    assert findings[0].part == "注文書.docx/word/embeddings/oleObject1.bin"
    assert findings[0].evidence["filename"] == filename
    extracted = [p for p in message.walk_parts() if p.filename == filename]
    assert extracted and extracted[0].data == payload and extracted[0].container == "ole"
    assert extracted[0].depth == 2


def test_package_in_word97_object_pool_is_flagged():
    data = ole_file({"WordDocument": _word_document_stream(), "1Table": b"\0" * 64,
                     "ObjectPool/_1234567890/\x01Ole10Native": ole10native("setup.exe", exe_stub())}, {"": WORD_CLSID})
    findings = office_findings(DETECTOR, [("a.doc", data)])
    assert symbols_of(findings) == {"OFFICE_EMBEDDED_EXECUTABLE"} and findings[0].evidence["kind"] == "PE executable"


def test_package_labelled_pdf_but_written_as_exe_is_flagged():
    native = ole10native("invoice.pdf", b"no magic here", disk_name="invoice.pdf.scr")
    data = ole_file({"WordDocument": _word_document_stream(), "ObjectPool/_1/\x01Ole10Native": native}, {"": WORD_CLSID})
    findings = office_findings(DETECTOR, [("a.doc", data)])
    assert symbols_of(findings) == {"OFFICE_EMBEDDED_EXECUTABLE"}
    assert findings[0].evidence["filename"] == "invoice.pdf" and "invoice.pdf.scr" in findings[0].evidence["paths"]


def test_equation_editor_object_is_an_exploit_object():
    findings = office_findings(DETECTOR, [("a.docx", docx(extra={"word/embeddings/oleObject1.bin": _equation_object()}))])
    assert symbols_of(findings) == {"OFFICE_EXPLOIT_OBJECT"}
    assert "Equation" in findings[0].evidence["class"]


def test_rtf_package_with_executable_is_flagged():
    rtf = rtf_with_object("Package", ole10native("scan.exe", exe_stub(), with_size=False))
    assert symbols_of(office_findings(DETECTOR, [("doc.rtf", rtf)])) == {"OFFICE_EMBEDDED_EXECUTABLE", "OFFICE_RTF_OBJECT"}


def test_rtf_equation_editor_object_is_flagged():
    rtf = rtf_with_object("Equation.3", _equation_object())
    assert symbols_of(office_findings(DETECTOR, [("doc.rtf", rtf)])) == {"OFFICE_EXPLOIT_OBJECT", "OFFICE_RTF_OBJECT"}


def test_harmless_packaged_pdf_scores_as_package_only():
    data = docx(extra={"word/embeddings/oleObject1.bin": ole_package_object("spec.pdf", b"%PDF-1.4\n%%EOF\n")})
    assert symbols_of(office_findings(DETECTOR, [("a.docx", data)])) == {"OFFICE_EMBEDDED_PACKAGE"}


@pytest.mark.parametrize("name, data", [
    ("chart.docx", docx(extra={"word/embeddings/Microsoft_Excel_Worksheet.xlsx": xlsx_by_xlsxwriter()})),
    ("見積.xlsx", xlsx_by_xlsxwriter()),
    ("memo.rtf", plain_rtf()),
])
def test_ordinary_documents_and_embedded_workbooks_stay_clean(name, data):
    assert office_findings(DETECTOR, [(name, data)]) == []


def test_payload_danger_by_magic_and_name():
    assert payload_danger("readme.txt", exe_stub()) == "PE executable"
    assert payload_danger("a.VBS", b"x") == ".vbs file"
    assert payload_danger("photo.jpg", b"\xff\xd8\xff") is None


def test_malformed_rtf_object_does_not_crash():
    rtf = b"{\\rtf1{\\object\\objemb{\\*\\objdata 0105000002000000" + b"zz" * 50 + b"}}}"
    assert symbols_of(office_findings(DETECTOR, [("bad.rtf", rtf)])) <= {"OFFICE_RTF_OBJECT"}


# ---------------------------------------------------------------- PowerPoint 97-2003 (issue 12)

from tests.builders_office import ppt_with_objects  # noqa: E402

_LNK = bytes.fromhex("4C0000000114020000000000C000000000000046") + b"\0" * 56


@pytest.mark.parametrize("compressed", [True, False])
def test_shortcut_packaged_inside_the_powerpoint_document_stream_is_flagged(compressed):
    ppt = ppt_with_objects([ole_package_object("slides.lnk", _LNK)], compressed=compressed)
    findings = office_findings([OfficeObjects()], [("提案.pps", ppt)])
    assert "OFFICE_EMBEDDED_EXECUTABLE" in symbols_of(findings)
    assert next(f for f in findings if f.symbol == "OFFICE_EMBEDDED_EXECUTABLE").part.endswith("/ExOleObjStg1")


def test_harmless_file_packaged_in_a_presentation_is_only_noted():
    ppt = ppt_with_objects([ole_package_object("notes.txt", b"agenda\r\n")])
    assert symbols_of(office_findings([OfficeObjects()], [("a.ppt", ppt)])) == {"OFFICE_EMBEDDED_PACKAGE"}


def test_macro_workbook_embedded_as_a_package_stream_is_scanned():
    from kakuri.detect.office_macros import OfficeMacros
    from tests.builders_office import EMOTET_LIKE_MODULES, xlsx

    workbook = xlsx(macro=EMOTET_LIKE_MODULES)
    object_storage = ole_file({"Package": workbook})
    doc = ole_file({"WordDocument": _word_document_stream(), "1Table": b"\0" * 256, "ObjectPool/_1234/Package": workbook},
                   {"": WORD_CLSID})
    findings = office_findings([OfficeObjects(), OfficeMacros()], [("a.doc", doc)])
    assert {"MACRO_AUTOEXEC", "MACRO_SUSPICIOUS"} <= symbols_of(findings)
    assert any(f.part.endswith("ObjectPool/_1234/Package") for f in findings)
    ppt = ppt_with_objects([object_storage])
    assert "MACRO_AUTOEXEC" in symbols_of(office_findings([OfficeObjects(), OfficeMacros()], [("a.ppt", ppt)]))


def test_rtf_that_only_mentions_object_control_words_is_not_parsed_for_objects():
    manual = rb"{\rtf1\ansi The destination \\objdata holds the object; \\objemb marks an embedded one.\par}"
    assert office_findings([OfficeObjects()], [("rtf-spec.rtf", manual)]) == []
