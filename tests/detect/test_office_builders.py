"""The test builders make files oletools reads back exactly: otherwise the detector tests prove nothing."""

import olefile
from oletools.olevba import VBA_Parser

from tests.builders_office import (EMOTET_LIKE_MODULES, doc_with_vba, docx, ole_file, ovba_compress, vba_project_bin,
                                   xls_with_vba)


def _modules(data: bytes, name: str) -> dict[str, str]:
    parser = VBA_Parser(name, data=data)
    assert parser.detect_vba_macros()
    return {path.rsplit("/", 1)[-1]: code for _, path, _, code in parser.extract_macros()}


def test_cfb_writer_round_trips_small_and_large_streams():
    big = bytes(range(256)) * 40  # > 4096: regular sectors; the rest go to the mini stream
    data = ole_file({"WordDocument": big, "Macros/VBA/dir": b"abc", "\x05SummaryInformation": b"s" * 100})
    ole = olefile.OleFileIO(data)
    assert ole.openstream("WordDocument").read() == big
    assert ole.openstream("Macros/VBA/dir").read() == b"abc"
    assert ole.exists("\x05SummaryInformation")


def test_ovba_compression_is_read_back_by_olevba_across_chunks():
    from oletools.olevba import decompress_stream

    text = ("Sub A()\r\n" + "x = 1\r\n" * 1500).encode()  # > 4096 bytes: raw chunks plus a literal chunk
    assert bytes(decompress_stream(bytearray(ovba_compress(text)))) == text


def test_vba_source_is_extracted_exactly_from_doc_xls_and_docm():
    expected = EMOTET_LIKE_MODULES["Module1"].replace("\n", "\r\n")
    for name, data in (("a.doc", doc_with_vba(EMOTET_LIKE_MODULES)), ("a.xls", xls_with_vba(EMOTET_LIKE_MODULES)),
                       ("a.docm", docx(macro=EMOTET_LIKE_MODULES))):
        modules = _modules(data, name)
        assert modules["Module1"] == 'Attribute VB_Name = "Module1"\r\n' + expected, name
        assert "Document_Open" in modules["ThisDocument"]


def test_vba_project_bin_has_the_ooxml_layout():
    ole = olefile.OleFileIO(vba_project_bin({"Module1": "Sub A()\nEnd Sub\n"}))
    assert ole.exists("PROJECT") and ole.exists("VBA/dir") and ole.exists("VBA/_VBA_PROJECT")
