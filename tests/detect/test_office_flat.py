"""One-file Office formats (Word 2003 XML, Flat OPC, MHT): what they carry in base64 is scanned like a
.doc/.docm, whatever the file is called; the same formats without payloads stay clean."""

import pytest

from kakuri.detect.office_dde import OfficeDde
from kakuri.detect.office_flat import OfficeFlat
from kakuri.detect.office_links import OfficeLinks
from kakuri.detect.office_macros import OfficeMacros
from kakuri.detect.office_objects import OfficeObjects
from kakuri.model import Action
from kakuri.pipeline import Scanner
from tests.builders import make_message
from tests.builders_office import (EMOTET_LIKE_MODULES, docx, exe_stub, flat_opc, mht_document, ole_package_object,
                                   office_findings, symbols_of, word2003_xml, word2003_xml_with_vba)

DETECTORS = [OfficeFlat(), OfficeObjects(), OfficeMacros(), OfficeDde(), OfficeLinks()]


@pytest.mark.parametrize("name", ["請求書.doc", "invoice.xml", "invoice.txt"])
def test_word2003_xml_macro_project_is_unwrapped_whatever_the_name(name):
    findings = office_findings(DETECTORS, [(name, word2003_xml_with_vba(EMOTET_LIKE_MODULES))])
    assert {"MACRO_PRESENT", "MACRO_AUTOEXEC", "MACRO_SUSPICIOUS"} <= symbols_of(findings)
    assert any(f.part.endswith("/editdata.mso") for f in findings)


def test_mht_web_archive_with_activemime_macros_is_scanned():
    findings = office_findings(DETECTORS, [("report.doc", mht_document(EMOTET_LIKE_MODULES))])
    assert {"MACRO_AUTOEXEC", "MACRO_SUSPICIOUS"} <= symbols_of(findings)


def test_flat_opc_document_is_read_as_the_package_it_describes():
    macro_doc = flat_opc(docx(macro=EMOTET_LIKE_MODULES))
    assert {"MACRO_AUTOEXEC", "MACRO_SUSPICIOUS"} <= symbols_of(office_findings(DETECTORS, [("a.xml", macro_doc)]))
    template = flat_opc(docx(settings_rels=[("", "attachedTemplate", "http://198.51.100.9/t.dotm", True)]))
    assert symbols_of(office_findings(DETECTORS, [("a.doc", template)])) == {"OFFICE_EXTERNAL_TEMPLATE"}
    embedded = flat_opc(docx(extra={"word/embeddings/oleObject1.bin": ole_package_object("a.exe", exe_stub())}))
    assert "OFFICE_EMBEDDED_EXECUTABLE" in symbols_of(office_findings(DETECTORS, [("a.xml", embedded)]))


def test_flat_documents_without_payload_are_clean():
    assert office_findings(DETECTORS, [("a.xml", flat_opc(docx()))]) == []
    assert office_findings(DETECTORS, [("a.xml", word2003_xml("<w:p><w:r><w:t>Agenda</w:t></w:r></w:p>"))]) == []


def test_flat_macro_document_quarantines_through_the_whole_pipeline(tmp_path):
    from kakuri.settings import load_settings

    verdict = Scanner(load_settings(tmp_path)).scan(
        make_message(attachments=[("見積.xml", flat_opc(docx(macro=EMOTET_LIKE_MODULES)))])).verdict
    assert verdict.action is Action.QUARANTINE, verdict.reasons


def test_activemime_bomb_is_inflated_only_up_to_the_cap():
    import base64
    import zlib

    from tests.builders_office import activemime

    bomb = activemime(b"")[:0x32] + zlib.compress(b"\0" * 50_000_000, 9)
    doc = word2003_xml("<w:p/>").replace(
        b"<w:body>", b'<w:docSuppData><w:binData w:name="editdata.mso">' + base64.b64encode(bomb) + b"</w:binData></w:docSuppData><w:body>")
    from kakuri.parse.mime import parse_message
    from kakuri.detect.base import ScanContext

    message = parse_message(make_message(attachments=[("a.xml", doc)]))
    list(OfficeFlat(max_part_bytes=1_000_000).check(message, ScanContext()))
    assert [len(c.data) for c in message.parts[0].children] == [1_000_000]
