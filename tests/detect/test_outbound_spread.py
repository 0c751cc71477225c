import pytest

from kakuri.detect.outbound_spread import OutboundSpread
from kakuri.detect.registry import build_detectors
from kakuri.model import Action, Direction, Envelope
from kakuri.pipeline import Scanner
from tests.builders import make_message
from tests.knowledge_builders import THREAD_IDS, THREAD_SUBJECT, org_knowledge

SENDER = "Megumi Sasaki <megumi.sasaki@kitaboshi.example>"
HARVESTED = ["a@one.example", "b@two.example", "c@three.example", "d@four.example", "e@five.example"]
REPLY = {"In-Reply-To": f"<{THREAD_IDS[1]}>", "References": f"<{THREAD_IDS[0]}> <{THREAD_IDS[1]}>"}


@pytest.fixture(scope="module")
def knowledge():
    return org_knowledge()


def _symbols(settings, knowledge, rcpts, detectors=None, **message):
    raw = make_message(from_=SENDER, to=", ".join(rcpts), **message)
    envelope = Envelope(mail_from="megumi.sasaki@kitaboshi.example", rcpt_tos=tuple(rcpts), direction=Direction.OUTBOUND)
    scanner = Scanner(settings, knowledge=knowledge, detectors=detectors or [OutboundSpread()])
    return scanner.scan(raw, envelope).verdict


def test_hijacked_reply_to_harvested_contacts_with_a_download_link_is_quarantined(settings, knowledge):
    verdict = _symbols(settings, knowledge, HARVESTED, detectors=build_detectors(settings),
                       subject="RE: " + THREAD_SUBJECT, headers=REPLY,
                       body="ご確認ください。\nhttps://blog.example-shop.test/wp-content/uploads/2020/09/doc.zip\n")
    assert {"OUTBOUND_REPLY_OUTSIDE_THREAD", "OUTBOUND_MANY_ORGANISATIONS"} <= set(verdict.symbols)
    assert verdict.action is Action.QUARANTINE


def test_reply_by_subject_alone_is_matched_to_the_thread(settings, knowledge):
    verdict = _symbols(settings, knowledge, HARVESTED[:2], subject="Re: " + THREAD_SUBJECT)
    assert verdict.symbols == ["OUTBOUND_REPLY_OUTSIDE_THREAD"]


def test_real_reply_to_the_thread_participant_is_clean(settings, knowledge):
    verdict = _symbols(settings, knowledge, ["k-morita@hoshizora-denki.example"], subject="RE: " + THREAD_SUBJECT, headers=REPLY)
    assert verdict.symbols == []


def test_adding_one_colleague_of_the_partner_is_clean(settings, knowledge):
    rcpts = ["k-morita@hoshizora-denki.example", "sales@hoshizora-denki.example"]
    assert _symbols(settings, knowledge, rcpts, subject="RE: " + THREAD_SUBJECT, headers=REPLY).symbols == []


def test_announcement_to_many_companies_with_a_ppap_zip_only_tags(settings, knowledge):
    from tests.builders_archive import encrypted_zip

    verdict = _symbols(settings, knowledge, HARVESTED, detectors=build_detectors(settings), subject="価格改定のお知らせ",
                       attachments=[("price.zip", encrypted_zip({"price.pdf": b"%PDF-1.4\n%%EOF\n"}, "Zx81ab"))],
                       body="パスワードは別途お送りします。")
    assert "OUTBOUND_MANY_ORGANISATIONS" in verdict.symbols
    assert verdict.action is not Action.QUARANTINE


def test_inbound_mail_is_not_judged(settings, knowledge):
    raw = make_message(from_="x <x@one.example>", to=", ".join(HARVESTED), subject="RE: " + THREAD_SUBJECT, headers=REPLY)
    scanner = Scanner(settings, knowledge=knowledge, detectors=[OutboundSpread()])
    assert scanner.scan(raw, Envelope(direction=Direction.INBOUND)).verdict.symbols == []
