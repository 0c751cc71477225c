import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.thread_hijack import ThreadHijack
from kakuri.parse.mime import parse_message
from tests.builders import make_message
from tests.knowledge_builders import THREAD_IDS, THREAD_SUBJECT, org_knowledge

QUOTE = (
    "ご確認をお願いします。\n\n"
    "On 2020/05/21 10:00, 佐々木 恵 wrote:\n"
    "> 森田様\n> お見積りありがとうございます。\n> megumi.sasaki@kitaboshi.example\n"
)
REPLY_HEADERS = {"In-Reply-To": f"<{THREAD_IDS[1]}>", "References": f"<{THREAD_IDS[0]}> <{THREAD_IDS[1]}>"}
DOC = [("見積書.doc", b"\xd0\xcf\x11\xe0" + b"\0" * 100, "application/msword")]


@pytest.fixture(scope="module")
def knowledge():
    return org_knowledge()


def _findings(knowledge, **message) -> dict[str, dict]:
    parsed = parse_message(make_message(**message))
    return {f.symbol: dict(f.evidence) for f in ThreadHijack().check(parsed, ScanContext(knowledge=knowledge))}


def test_stranger_replying_into_a_known_thread_with_an_attachment_is_a_hijack(knowledge):
    found = _findings(
        knowledge,
        from_="森田 浩二 <host34@construction.test>",
        subject="RE: " + THREAD_SUBJECT,
        body=QUOTE,
        headers=REPLY_HEADERS,
        attachments=DOC,
    )
    assert found["THREAD_HIJACK_PAYLOAD"] == found["THREAD_HIJACK"]
    hijack = found["THREAD_HIJACK"]
    assert hijack["sender"] == "host34@construction.test"
    assert hijack["thread"] == THREAD_IDS[0]
    assert "k-morita@hoshizora-denki.example" in hijack["participants"]
    assert "THREAD_QUOTED_FIRST_CONTACT" in found


def test_stranger_replying_without_payload_is_a_plain_hijack(knowledge):
    found = _findings(knowledge, from_="x@elsewhere.test", subject="RE: " + THREAD_SUBJECT, headers=REPLY_HEADERS)
    assert "THREAD_HIJACK" in found and "THREAD_HIJACK_PAYLOAD" not in found


def test_link_counts_as_payload(knowledge):
    found = _findings(
        knowledge,
        from_="x@elsewhere.test",
        subject="RE: " + THREAD_SUBJECT,
        body="詳細はこちら https://files.example.org/doc",
        headers=REPLY_HEADERS,
    )
    assert {"THREAD_HIJACK", "THREAD_HIJACK_PAYLOAD"} <= set(found)


@pytest.mark.parametrize(
    "sender",
    [
        "森田 浩二 <k-morita@hoshizora-denki.example>",  # the participant
        "上司 <boss@hoshizora-denki.example>",  # a second address of the partner's organisation
        "上田 翔 <sho.ueda@kb-trading.example>",  # a colleague cc'd in from our group
    ],
)
def test_real_participants_and_their_organisations_replying_are_clean(knowledge, sender):
    found = _findings(
        knowledge, from_=sender, subject="RE: " + THREAD_SUBJECT, body=QUOTE, headers=REPLY_HEADERS, attachments=DOC
    )
    assert found == {}


def test_reply_subject_without_headers_from_a_stranger_matches_the_thread(knowledge):
    found = _findings(knowledge, from_="x@elsewhere.test", subject="Re: " + THREAD_SUBJECT, body=QUOTE)
    assert {"THREAD_HIJACK_SUBJECT", "FAKE_REPLY", "THREAD_QUOTED_FIRST_CONTACT"} <= set(found)


def test_legitimate_forward_by_a_known_correspondent_is_clean(knowledge):
    body = "転送します。\n\n---------- Forwarded message ---------\nFrom: 森田 浩二\n" + QUOTE
    found = _findings(
        knowledge, from_="Emily Stone <estone@northwind.example.com>", subject="Fwd: " + THREAD_SUBJECT, body=body
    )
    assert found == {}


def test_first_contact_quoting_our_conversation_under_an_unknown_thread_is_flagged(knowledge):
    found = _findings(
        knowledge,
        from_="someone@elsewhere.test",
        subject="RE: 請求書",
        body=QUOTE,
        headers={"In-Reply-To": "<unknown@nowhere.test>"},
    )
    assert set(found) == {"THREAD_QUOTED_FIRST_CONTACT"}


def test_newsletter_with_many_links_is_clean(knowledge):
    links = "\n".join(f"https://news.example.org/a/{i}" for i in range(30))
    found = _findings(knowledge, from_="News <news@mailer.example.net>", subject="今月のニュース", body=links)
    assert found == {}


def test_fake_reply_is_the_only_finding_for_a_bare_re_subject(knowledge):
    assert set(_findings(knowledge, from_="a@b.test", subject="Re: Invoice")) == {"FAKE_REPLY"}


def _bounce(knowledge, mail_from: str) -> dict[str, dict]:
    """An Exchange-style NDR from the recipient's provider: In-Reply-To our message, the original attached."""
    from email.mime.message import MIMEMessage
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    import email

    from kakuri.model import Envelope

    report = MIMEMultipart("report", report_type="delivery-status")
    report.attach(MIMEText("Delivery has failed to these recipients or groups."))
    report.attach(MIMEText("Reporting-MTA: dns; mx.hosted-mail.test\n\nFinal-Recipient: rfc822; a@b.test\n"
                           "Action: failed\nStatus: 5.1.1\n", "delivery-status"))
    report.attach(MIMEMessage(email.message_from_bytes(make_message(subject="RE: " + THREAD_SUBJECT, body=QUOTE))))
    report["From"] = "Microsoft Outlook <postmaster@hosted-mail.test>"
    report["Subject"] = "Undeliverable: RE: " + THREAD_SUBJECT
    report["In-Reply-To"] = f"<{THREAD_IDS[1]}>"
    report["References"] = f"<{THREAD_IDS[1]}>"
    ctx = ScanContext(knowledge=knowledge, envelope=Envelope(mail_from=mail_from))
    return {f.symbol: dict(f.evidence) for f in ThreadHijack().check(parse_message(report.as_bytes()), ctx)}


def test_bounce_of_our_own_thread_mail_from_the_recipients_provider_is_not_a_hijack(knowledge):
    assert _bounce(knowledge, "") == {}


def test_report_shaped_mail_from_a_real_sender_is_still_judged_as_a_reply(knowledge):
    assert "THREAD_HIJACK" in _bounce(knowledge, "host34@construction.test")
