"""The shared sample corpus through the unpack stage and the whole Scanner: nothing crashes, encrypted
zips whose password is in the body are opened, PPAP zips whose password comes separately are not."""

import json

import pytest

from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from kakuri.unpack.passwords import BodyPasswords
from kakuri.unpack.walker import unpack_message


@pytest.fixture
def corpus(shared_dir):
    root = shared_dir / "corpus"
    labels = [json.loads(line) for line in (root / "labels.jsonl").read_text().splitlines() if line.strip()]
    return [(label, (root / label["file"]).read_bytes()) for label in labels]


def _unpacked(raw: bytes, settings):
    message = parse_message(raw)
    source = BodyPasswords()
    findings = unpack_message(message, settings.unpack, lambda: source.passwords(message, None))
    return message, {f.symbol for f in findings}


def test_encrypted_zips_with_the_password_in_the_body_are_opened(corpus, settings):
    cases = [(label, raw) for label, raw in corpus if label["family"] == "encrypted_zip_pw_in_body"]
    assert cases
    for label, raw in cases:
        message, symbols = _unpacked(raw, settings)
        expected = {a["filename"]: a["password"] for a in label["attachments"]}
        opened = {p.filename: p.password for p in message.parts if p.password}
        assert opened == expected, label["file"]
        assert "ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE" in symbols
        assert all(child.true_type == "doc" for part in message.parts for child in part.children)


def test_ppap_zips_with_a_separate_password_mail_stay_below_the_tag_threshold(corpus, settings):
    for label, raw in corpus:
        if label["family"] == "legit_encrypted_zip" and label.get("attachments"):
            _, symbols = _unpacked(raw, settings)
            assert symbols == {"ARCHIVE_ENCRYPTED_UNOPENED"}, label["file"]
            assert settings.policy.score_of("ARCHIVE_ENCRYPTED_UNOPENED") < 5


def test_zipped_members_named_in_the_labels_are_extracted(corpus, settings):
    for label, raw in corpus:
        for attachment in label.get("attachments", []):
            if attachment.get("type") == "zip" and "contains" in attachment and label["family"] != "legit_encrypted_zip":
                message, _ = _unpacked(raw, settings)
                members = {p.filename: p.sha256 for p in message.walk_parts() if p.depth == 1}
                for inner in attachment["contains"]:
                    assert members.get(inner["filename"]) == inner["sha256"], label["file"]


def test_whole_corpus_scans_without_unpack_findings_on_plain_mail(corpus, settings):
    scanner = Scanner(settings, password_sources=[BodyPasswords()])
    for label, raw in corpus:
        result = scanner.scan(raw)
        symbols = {f.symbol for f in result.verdict.findings}
        if not label.get("attachments"):
            assert not {s for s in symbols if s.startswith("ARCHIVE_")}, label["file"]
