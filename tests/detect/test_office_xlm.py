"""Excel 4.0 macro sheets in .xls, .xlsm, .xlsb and SYLK; ordinary formulas stay clean."""

import pytest

from kakuri.detect.office_xlm import OfficeXlm
from tests.builders_office import office_findings, plain_xls, sylk, symbols_of, xls_with_xlm, xlsb_with_macrosheet, xlsx, xlsx_by_xlsxwriter

DETECTOR = [OfficeXlm()]
DROPPER_CELLS = [("CALL", "urlmon"), ("EXEC", "rundll32 %TEMP%\\a.dll,DllRegisterServer"), ("HALT", None)]


def test_biff8_macro_sheet_with_auto_open_is_xlm_and_autoexec():
    findings = office_findings(DETECTOR, [("請求書.xls", xls_with_xlm(DROPPER_CELLS))])
    assert symbols_of(findings) == {"MACRO_XLM", "MACRO_AUTOEXEC"}
    xlm = next(f for f in findings if f.symbol == "MACRO_XLM")
    assert {"CALL", "EXEC", "HALT"} <= set(xlm.evidence["functions"].split(", "))
    assert xlm.evidence["sheets"].startswith("Macro1")


def test_biff8_macro_sheet_is_found_without_the_excel_clsid():
    # olevba only looks for XLM when ftguess says Excel (root CLSID); Excel itself does not care.
    findings = office_findings(DETECTOR, [("a.xls", xls_with_xlm(DROPPER_CELLS, clsid=False))])
    assert "MACRO_XLM" in symbols_of(findings)


def test_user_defined_name_starting_with_auto_open_is_autoexec():
    findings = office_findings(DETECTOR, [("a.xls", xls_with_xlm(DROPPER_CELLS, auto_open="auTo_oPen77"))])
    assert next(f for f in findings if f.symbol == "MACRO_AUTOEXEC").evidence["triggers"] == "auTo_oPen77"


def test_macro_sheet_without_auto_open_is_xlm_only():
    assert symbols_of(office_findings(DETECTOR, [("a.xls", xls_with_xlm(DROPPER_CELLS, auto_open=False))])) == {"MACRO_XLM"}


def test_xlsm_macrosheet_part_and_auto_open_defined_name():
    cells = '<row r="1"><c r="A1"><f>EXEC("cmd /c calc")</f></c></row><row r="2"><c r="A2"><f>HALT()</f></c></row>'
    data = xlsx(macrosheet=cells, defined_names='<definedName name="_xlnm.Auto_Open" hidden="1">Macro1!$A$1</definedName>')
    findings = office_findings(DETECTOR, [("report.xlsm", data)])
    assert symbols_of(findings) == {"MACRO_XLM", "MACRO_AUTOEXEC"}
    assert "EXEC" in next(f for f in findings if f.symbol == "MACRO_XLM").evidence["functions"]


def test_xlsb_binary_macrosheet_with_auto_open():
    assert symbols_of(office_findings(DETECTOR, [("a.xlsb", xlsb_with_macrosheet())])) == {"MACRO_XLM", "MACRO_AUTOEXEC"}


def test_sylk_macro_sheet_with_exec():
    findings = office_findings(DETECTOR, [("order.slk", sylk(['EXEC("cmd /c calc")', "HALT()"]))])
    assert symbols_of(findings) == {"MACRO_XLM", "MACRO_AUTOEXEC"}


def test_sylk_under_another_name_is_found_by_content():
    assert "MACRO_XLM" in symbols_of(office_findings(DETECTOR, [("data.txt", sylk(['CALL("urlmon")'], auto_open=False))]))


@pytest.mark.parametrize("name, data", [
    ("plain.xls", plain_xls()),
    ("見積.xlsx", xlsx_by_xlsxwriter()),
    ("formula.xlsx", xlsx()),
    ("data.slk", sylk(["SUM(R1C2:R3C2)", "AVERAGE(R1C2:R3C2)"], macro_sheet=False, auto_open=False)),
])
def test_workbooks_with_ordinary_formulas_stay_clean(name, data):
    assert office_findings(DETECTOR, [(name, data)]) == []
