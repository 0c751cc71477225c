"""The learned lure-wording model: reproducible training, content-only features, abstaining where it knows nothing."""

import importlib.util
from pathlib import Path

import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.lure_model import LureModel, LureModelDetector, content_features
from kakuri.model.knowledge import StaticKnowledge
from kakuri.parse.mime import parse_message
from tests.builders import make_message

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_lure_model.py"


@pytest.fixture(scope="module")
def training():
    spec = importlib.util.spec_from_file_location("train_lure_model", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _features(**message):
    return content_features(parse_message(make_message(**message)))


LURE = (
    "Dear customer, your account has been limited. Please verify your account and confirm your billing details "
    "today or the account will be closed. Thank you for your cooperation, the support team."
)
DISCUSSION = (
    "I think the build on the old box is running fine now, but the patch to the parser still breaks when the "
    "list is empty. Has anyone tried it with the new compiler? It looks like a bug in how we read the config."
)


def _tiny_set():
    documents = []
    for n in range(12):
        documents.append((f"p{n}", 1, _features(subject="Notice", body=LURE)))
        documents.append((f"b{n}", 0, _features(subject="Re: parser", body=DISCUSSION)))
    return documents


def test_training_is_reproducible_and_learns_the_lure_words(training):
    first = training.train(_tiny_set())
    assert first == training.train(_tiny_set())
    assert first["weights"]["verify your"] > 0 and first["weights"]["your account"] > 0
    assert first["weights"]["parser"] < 0
    assert training.probability(first, _features(subject="Notice", body=LURE)) > 0.9


def test_features_leave_out_links_addresses_dates_bulk_furniture_and_the_readers_name():
    features = _features(
        to="Bob Miller <bob.miller@victim.test>",
        subject="Hello Bob",
        body="Bob, please verify your account at https://login.test/x or write to help@support.test by Monday "
        "12 March. To unsubscribe click here. Thank you for being with us, your team.",
    )
    assert "verify your" in features
    assert not {"bob", "miller", "login", "help", "support", "monday", "march", "unsubscribe", "click"} & features


def test_model_abstains_on_japanese_and_other_languages():
    assert _features(subject="お支払い方法の確認", body="お客様のアカウントが停止されました。本人確認をお願いします。" * 3) is None
    assert _features(subject="Sua conta", body="Prezado cliente, sua conta foi bloqueada para sua segurança. " * 3) is None


def test_shipped_model_flags_an_english_lure_with_its_top_words():
    detector = LureModelDetector(LureModel.load())
    message = parse_message(
        make_message(
            from_="Support <no-reply@service-desk.test>",
            subject="Important: your account will be suspended",
            body="Dear customer, we were unable to verify your account details. Your account has been limited "
            "until you confirm your information. Please click below to restore full access to your account today. "
            "Thank you, the support team.",
        )
    )
    (finding,) = detector.check(message, ScanContext())
    assert float(finding.evidence["probability"]) >= 0.95
    assert "account" in finding.evidence["top_features"]


def test_shipped_model_says_nothing_for_a_known_correspondent():
    detector = LureModelDetector(LureModel.load())
    message = parse_message(
        make_message(
            from_="Billing <billing@supplier.test>",
            subject="Important: your account will be suspended",
            body="Dear customer, we were unable to verify your account details. Your account has been limited "
            "until you confirm your information. Please click below to restore full access to your account today.",
        )
    )
    ctx = ScanContext(knowledge=StaticKnowledge(partner_domains={"supplier.test"}))
    assert list(detector.check(message, ctx)) == []
