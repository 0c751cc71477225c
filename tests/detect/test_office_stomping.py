"""VBA stomping: the p-code Office runs must match the source everyone else reads."""

import io

import msoffcrypto

from kakuri.detect.office_stomping import OfficeStomping, pcode_keywords
from tests.builders_office import EMOTET_LIKE_MODULES, doc_with_vba, office_findings, stomp_vba, symbols_of
from tests.real_office import real_file

# Excel 2010 wrote this workbook (VelvetSweatshop-encrypted, Auto_Open with MsgBox "Hello World"): it has p-code.
AUTO_OPEN_XLS = "oletools:tests/test-data/encrypted/autostart-encrypt-standardpassword.xls"


def _excel_workbook_with_pcode() -> bytes:
    office_file = msoffcrypto.OfficeFile(io.BytesIO(real_file(AUTO_OPEN_XLS)))
    office_file.load_key(password="VelvetSweatshop")
    out = io.BytesIO()
    office_file.decrypt(out)
    return out.getvalue()


def test_source_removed_while_pcode_remains_is_stomping_with_its_trigger():
    findings = office_findings([OfficeStomping()], [("請求書.xls", stomp_vba(_excel_workbook_with_pcode()))])
    assert symbols_of(findings) == {"MACRO_STOMPED", "MACRO_AUTOEXEC"}
    stomped = next(f for f in findings if f.symbol == "MACRO_STOMPED")
    assert "MsgBox" in stomped.evidence["missing_from_source"] and stomped.evidence["pcode_procedures"] == "Auto_Open"


def test_source_replaced_by_harmless_code_is_stomping():
    decoy = 'Sub Hello()\r\n  MsgBox "hi"\r\nEnd Sub\r\n'
    findings = office_findings([OfficeStomping()], [("a.xls", stomp_vba(_excel_workbook_with_pcode(), decoy))])
    assert "MACRO_STOMPED" in symbols_of(findings)
    assert '"Hello World"' in next(f for f in findings if f.symbol == "MACRO_STOMPED").evidence["missing_from_source"]


def test_workbook_as_excel_saved_it_is_not_stomped():
    assert office_findings([OfficeStomping()], [("a.xls", _excel_workbook_with_pcode())]) == []


def test_project_without_pcode_is_not_stomping():
    # Our builders (like LibreOffice and some generators) write source only: nothing to compare.
    assert office_findings([OfficeStomping()], [("a.doc", doc_with_vba(EMOTET_LIKE_MODULES))]) == []


def test_pcode_listing_keywords_follow_the_source_spelling():
    listing = ('\tFuncDefn (Sub Document_Open())\n\tLitStr 0x0005 "a"b"\n\tArgsCall (Call) Shell 0x0001\n'
               '\tLd id_FFFF\n\tSt x\nLine #1:\n')
    names, literals, procedures = pcode_keywords(listing)
    assert names == {"Shell", "x"} and literals == {'"a""b"'} and procedures == {"Document_Open"}
