"""The shared corpus through the real pipeline with only the Office detectors: every macro document is
caught on its own, and no benign mail (Office files without macros included) gets any Office finding."""

import json

from kakuri.detect.office_dde import OfficeDde
from kakuri.detect.office_encryption import OfficeEncryption
from kakuri.detect.office_links import OfficeLinks
from kakuri.detect.office_macros import OfficeMacros
from kakuri.detect.office_objects import OfficeObjects
from kakuri.detect.office_xlm import OfficeXlm
from kakuri.model import Action
from kakuri.pipeline import Scanner


def test_corpus_macro_documents_quarantine_and_benign_office_mail_is_clean(settings, shared_dir):
    detectors = [OfficeEncryption(), OfficeObjects(), OfficeMacros(), OfficeXlm(), OfficeDde(), OfficeLinks()]
    scanner = Scanner(settings, detectors=detectors)
    corpus = shared_dir / "corpus"
    seen = {"hijack_macro_doc": 0, "office_nomacro": 0}
    for line in (corpus / "labels.jsonl").read_text().splitlines():
        label = json.loads(line)
        verdict = scanner.scan((corpus / label["file"]).read_bytes()).verdict
        office = {f.symbol for f in verdict.findings if f.detector.startswith("office_")}
        if label["family"] == "hijack_macro_doc":
            seen["hijack_macro_doc"] += 1
            assert {"MACRO_PRESENT", "MACRO_AUTOEXEC", "MACRO_SUSPICIOUS"} <= office, label["file"]
            assert verdict.action is Action.QUARANTINE, label["file"]
        elif label["label"] == "benign":
            seen["office_nomacro"] += label["family"] == "office_nomacro"
            assert not office, (label["file"], office)
    assert seen["hijack_macro_doc"] >= 1 and seen["office_nomacro"] >= 1
