"""Seed inputs per fuzz target, built in code from the test builders (no sample is copied)."""

from __future__ import annotations

from functools import cache

from tests import builders_archive as ar
from tests import builders_office as of
from tests.builders import make_message

VBA = {"ThisDocument": 'Sub AutoOpen()\r\n  Shell "cmd /c calc", 0\r\nEnd Sub\r\n'}
PE = ar.PE_STUB
LNK = ar.LNK_HEADER


def _pdf(*objects: bytes) -> bytes:
    from tests.detect.test_pdf import make_pdf

    return make_pdf(*objects)


def _pdfs() -> list[bytes]:
    from tests.detect.test_pdf import PAGE, invoice, stream

    return [
        invoice(),
        _pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
             PAGE % b"", b"<< /S /JavaScript /JS (app.launchURL\\('http://198.51.100.9/x'\\);) >>"),
        _pdf(b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a.exe) 3 0 R] >> >> >>",
             b"<< /Type /Pages /Kids [] /Count 0 >>", b"<< /Type /Filespec /F (a.exe) /EF << /F 4 0 R >> >>",
             stream(__import__("zlib").compress(PE), b"/Type /EmbeddedFile")),
        _pdf(b"<< /Type /Catalog /OpenAction << /S /Launch /F (cmd.exe) >> >>"),
    ]


def _archives() -> list[bytes]:
    files = {"invoice.doc": of.doc_with_vba(VBA), "readme.txt": b"hello", "run.lnk": LNK}
    return [
        ar.zip_of(files),
        ar.encrypted_zip(files, "fuzz"),
        ar.encrypted_zip({"a.exe": PE}, "fuzz", aes=True),
        ar.seven_zip(files),
        ar.seven_zip({"a.exe": PE}, password="fuzz"),
        ar.tar_of(files, compression="gz"),
        ar.compressed(PE, "xz"),
        ar.iso_of({"setup.lnk": LNK, "data.dll": PE}),
        ar.onenote_with([b"<hta:application>", PE]),
        ar.tnef_with({"invoice.doc": of.doc_with_vba(VBA)}),
        ar.fat12_image({"SETUP.LNK": LNK}),
        ar.fixed_vhd(ar.mbr_disk(ar.fat12_image({"A.EXE": PE}))),
        ar.cab_stored({"a.js": b"WScript.Shell"}),
        ar.rar4_stored({"a.exe": PE}),
        ar.rar4_stored({"a.exe": PE}, encrypted=True),
        ar.rar5_stored({"a.vbs": b"CreateObject"}),
        ar.rar5_stored({"a.vbs": b"CreateObject"}, encrypted=True),
        ar.raw_zip([(b"a.exe", PE), (b"b.txt", b"x")]),
        ar.rar5_encrypted({"a.vbs": b"CreateObject", "b.lnk": LNK}, "fuzz"),
        ar.udf_only_of({"setup.lnk": LNK}),
    ]


def _office() -> list[bytes]:
    return [
        of.doc_with_vba(VBA),
        of.plain_doc(),
        of.xls_with_vba({"ThisWorkbook": 'Sub Workbook_Open()\r\nEnd Sub\r\n'}),
        of.xls_with_xlm([("EXEC", '"calc"'), ("HALT", None)]),
        of.plain_xls(),
        of.word2003_xml_with_vba(VBA),
        of.ole_package_object("a.exe", PE),
        of.docx(),
        of.xlsx(),
        of.xlsb_with_macrosheet(),
        of.sylk(['C;X1;Y1;EEXEC("calc")']),
        of.rtf_with_object("Package", of.ole10native("a.exe", PE)),
        of.plain_rtf(),
        of.encrypt_ooxml(of.docx(), "VelvetSweatshop"),
    ]


def _html() -> list[bytes]:
    return [
        b'<html><body><p>Invoice <a href="http://198.51.100.7/inv.zip">www.tokai-keiki.example</a></p>'
        b"<script>alert(1)</script><table><tr><td>pw: abc</td></tr></table></body></html>",
        b'<a href="https://user@bank.example@evil.test:8080/x.doc">bank</a><img src="cid:x"><br>&amp;&#x41;',
    ]


def _messages() -> list[bytes]:
    return [
        make_message(body="パスワード：fuzz\n", attachments=[("inv.zip", ar.encrypted_zip({"a.doc": of.doc_with_vba(VBA)},
                                                                                          "fuzz"))]),
        make_message(html=_html()[0].decode(), attachments=[("a.pdf", _pdfs()[1])]),
        make_message(subject="=?iso-2022-jp?b?GyRCJUYlOSVIGyhC?=", charset="iso-2022-jp", body="テスト\n"),
        make_message(attachments=[("a.xlsm", of.xlsb_with_macrosheet()), ("b.iso", ar.iso_of({"a.lnk": LNK}))]),
    ]


@cache
def seeds(target: str) -> tuple[bytes, ...]:
    if target in ("mime", "message"):
        return tuple(_messages())
    if target == "html":
        return tuple(_html())
    if target == "unpack":
        return tuple(_archives())
    if target == "office":
        return tuple(_office())
    if target == "pdf":
        return tuple(_pdfs())
    raise KeyError(target)
