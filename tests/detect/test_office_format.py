"""Which parts count as Office files: by content first, by name only for formats without magic."""

import io
import zipfile

import pytest

from kakuri.detect.office_format import OfficeKind, child_part, office_kind, office_parts
from kakuri.model import ParsedMessage, Part
from tests.builders_office import docx, plain_doc, plain_rtf, sylk, word2003_xml_with_vba, xlsx_by_xlsxwriter


def _part(name: str, data: bytes, true_type: str | None = None) -> Part:
    return Part(path=name, data=data, filename=name, true_type=true_type)


@pytest.mark.parametrize("name, data, kind", [
    ("a.doc", plain_doc(), OfficeKind.OLE),
    ("a.pdf", plain_doc(), OfficeKind.OLE),  # a lying name does not hide the content
    ("a.docx", docx(), OfficeKind.OOXML),
    ("a.bin", xlsx_by_xlsxwriter(), OfficeKind.OOXML),
    ("a.doc", plain_rtf(), OfficeKind.RTF),  # RTF renamed .doc, as maldocs are
    ("a.txt", sylk(["SUM(1)"]), OfficeKind.SYLK),
    ("list.csv", b"a,b\r\n1,2\r\n", OfficeKind.CSV),
    ("q.iqy", b"WEB\r\n1\r\nhttp://x.test/\r\n", OfficeKind.IQY),
    ("a.doc", word2003_xml_with_vba({"Module1": "Sub A()\nEnd Sub\n"}), OfficeKind.FLAT),
])
def test_office_kind_by_content(name, data, kind):
    assert office_kind(_part(name, data)) is kind


def test_not_office():
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("inner.docx", docx())  # the inner [Content_Types].xml is visible in the outer bytes
    assert office_kind(_part("a.zip", stored.getvalue())) is None
    assert office_kind(_part("a.zip", stored.getvalue(), true_type="docx")) is None  # sniffed wrongly: checked
    assert office_kind(_part("data.csv", b"\x00\x01binary")) is None
    assert office_kind(_part("setup.msi", plain_doc(), true_type="msi")) is None
    assert office_kind(_part("a.txt", b"hello")) is None
    assert office_kind(_part("invoice.xml", b'<?xml version="1.0"?><invoice total="1"/>')) is None


def test_office_parts_walks_children_added_during_the_walk():
    doc = _part("a.docx", docx())
    message = ParsedMessage(raw=b"", headers=[], parts=[doc])
    seen = []
    for part, _ in office_parts(message):
        seen.append(part.path)
        if part is doc:
            child_part(doc, "word/embeddings/x.doc", plain_doc(), "ole")
            child_part(doc, "word/embeddings/x.doc", plain_doc(), "ole")  # idempotent
    assert seen == ["a.docx", "a.docx/word/embeddings/x.doc"]
    assert len(doc.children) == 1 and doc.children[0].depth == 1
