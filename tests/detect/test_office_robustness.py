"""Damaged Office files give findings or nothing, never an exception (which would lose the detector's verdict)."""

import random

import pytest

from kakuri.detect.office_dde import OfficeDde
from kakuri.detect.office_encryption import OfficeEncryption
from kakuri.detect.office_links import OfficeLinks
from kakuri.detect.office_macros import OfficeMacros
from kakuri.detect.office_objects import OfficeObjects
from kakuri.detect.office_xlm import OfficeXlm
from tests.builders_office import (EMOTET_LIKE_MODULES, doc_with_vba, docx, exe_stub, ole10native, office_findings,
                                   rtf_with_object, sylk, xls_with_xlm, xlsx)

DETECTORS = [OfficeEncryption(), OfficeObjects(), OfficeMacros(), OfficeXlm(), OfficeDde(), OfficeLinks()]
SAMPLES = {
    "a.doc": doc_with_vba(EMOTET_LIKE_MODULES),
    "a.xls": xls_with_xlm([("EXEC", "calc")]),
    "a.xlsm": xlsx(macro={"ThisWorkbook": "Sub Workbook_Open()\nEnd Sub\n"}, macrosheet="<row/>"),
    "a.rtf": rtf_with_object("Package", ole10native("a.exe", exe_stub(), with_size=False)),
    "a.slk": sylk(['EXEC("calc")']),
    "a.docx": docx('<w:p><w:fldSimple w:instr="DDEAUTO cmd"/></w:p>'),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_mutated_and_truncated_files_never_raise(name):
    rng = random.Random(name)
    original = SAMPLES[name]
    variants = [original[:cut] for cut in (8, 100, 600, len(original) // 2, len(original) - 1)]
    for _ in range(12):
        data = bytearray(original)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        variants.append(bytes(data))
    for data in variants:
        office_findings(DETECTORS, [(name, data)])  # must not raise
