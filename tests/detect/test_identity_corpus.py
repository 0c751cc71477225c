"""The shared corpus, after importing its directory and learning its history (identity detectors only)."""

import json

import pytest

from kakuri.detect.impersonation import Impersonation
from kakuri.detect.thread_hijack import ThreadHijack
from kakuri.model import Direction, Envelope
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from kakuri.store.directory_import import read_partner_domains, read_people
from kakuri.store.knowledge import load_knowledge

MUST_FLAG = {"hijack_macro_doc", "display_name_spoof_internal"}
MUST_STAY_CLEAN = {"thread_reply", "long_thread", "forwarded", "business_plain", "auto_reply", "newsletter",
                   "mailing_list", "outbound_business", "internal_business", "legit_encrypted_zip"}


@pytest.mark.slow
def test_corpus_families_after_directory_import_and_learning(settings, shared_dir):
    corpus = shared_dir / "corpus"
    config = json.loads((corpus / "org" / "config.json").read_text())
    settings.org.our_domains = config["our_domains"]
    knowledge = load_knowledge(settings)
    for kind, name in (("staff", "directory.csv"), ("partner", "partners.csv")):
        read = read_people(corpus / "org" / name, kind)
        knowledge.import_people(read.people)
    knowledge.import_domains(read_partner_domains(corpus / "org" / "config.json"), kind="partner")
    history = sorted((corpus / "history").glob("*.eml"))
    knowledge.record_many((parse_message(p.read_bytes()), None) for p in history)

    detectors = [Impersonation(), ThreadHijack()]
    scanner = Scanner(settings, knowledge=knowledge, detectors=detectors)
    ours = {spec.name for d in detectors for spec in d.symbols}
    missed, noisy = [], []
    for line in (corpus / "labels.jsonl").read_text().splitlines():
        label = json.loads(line)
        envelope = Envelope(rcpt_tos=tuple(label["envelope"]["rcpt_to"]), direction=Direction(label["direction"]))
        verdict = scanner.scan((corpus / label["file"]).read_bytes(), envelope).verdict
        symbols = {f.symbol for f in verdict.findings} & ours
        score = sum(verdict.symbol_scores.get(s, 0.0) for s in symbols)
        if label["family"] in MUST_FLAG and not symbols:
            missed.append(label["file"])
        if label["family"] in MUST_STAY_CLEAN and score >= 5.0:
            noisy.append((label["file"], sorted(symbols)))
    assert missed == [] and noisy == []
