"""Cross-family phishing composites (policy/69-phishing.toml): two independent signs of deceit quarantine,
one alone does not, and the lure model never decides alone or for a known correspondent."""

from __future__ import annotations

import pytest

from kakuri.model import Envelope
from kakuri.model.knowledge import Person
from kakuri.pipeline import Scanner
from kakuri.store.knowledge_index import KnowledgeIndex
from tests.builders import make_message

LURE = (
    "Dear customer,\n\nWe detected unusual sign-in activity on your account and have temporarily limited it. "
    "To restore full access, verify your identity and confirm your billing information within 24 hours, "
    "otherwise your account will be permanently suspended.\n\nVerify now: {link}\n\nSecurity Team\n"
)
STRANGER = "Account Security <notice@mailer-shop-4471.test>"


def scan(settings, raw, knowledge=None, mail_from="notice@mailer-shop-4471.test"):
    scanner = Scanner(settings, knowledge=knowledge)
    return scanner.scan(raw, Envelope(mail_from=mail_from, rcpt_tos=("hanako@tokai-keiki.example",))).verdict


def test_lure_theme_behind_a_shortener_from_a_stranger_is_quarantined(settings):
    verdict = scan(settings, make_message(from_=STRANGER, subject="Action required: account limited",
                                          body=LURE.format(link="https://bit.ly/3xYz9Qa")))
    assert verdict.action.value == "quarantine", verdict.as_dict()
    assert "URL_SHORTENER" in verdict.symbols


def test_a_re_from_a_sender_hiding_its_address_is_quarantined(settings):
    raw = (b"From: PayService <support>\r\nTo: hanako@tokai-keiki.example\r\nSubject: Re: your parcel\r\n"
           b"Message-ID: <x1@mailer-shop-4471.test>\r\n\r\n"
           b"Hello, your package is waiting. Please confirm the delivery fee today.\r\n")
    verdict = scan(settings, raw, mail_from="bounce@mailer-shop-4471.test")
    assert {"FAKE_REPLY", "FROM_ADDRESS_WITHOUT_DOMAIN"} <= set(verdict.symbols), verdict.as_dict()
    assert verdict.action.value == "quarantine", verdict.as_dict()


def test_lure_linking_to_a_cloud_page_is_quarantined(settings):
    verdict = scan(settings, make_message(from_=STRANGER, subject="Mailbox storage full",
                                          body=LURE.format(link="https://secure-verify-77.web.app/login")))
    assert verdict.action.value == "quarantine", verdict.as_dict()


def test_the_same_lure_from_a_known_correspondent_is_not_quarantined_by_the_model(settings):
    knowledge = KnowledgeIndex(our_domains=("tokai-keiki.example",))
    knowledge.add_person(Person("Emily Stone", "estone@northwind.example.com", "partner", (), "Northwind"))
    knowledge.add_contact("estone@northwind.example.com", "hanako@tokai-keiki.example")
    raw = make_message(from_="Emily Stone <estone@northwind.example.com>", subject="account",
                       body=LURE.format(link="https://bit.ly/3xYz9Qa"))
    verdict = scan(settings, raw, knowledge, mail_from="estone@northwind.example.com")
    assert "LURE_MODEL" not in verdict.symbols
    assert not any(s.startswith("PHISH_") for s in verdict.symbols)


# The lure model rates almost any modern English mail high (it learned the era with the intent): with a
# shortener, a file share or a survey form, honest mail from a stranger must not be quarantined.
@pytest.mark.parametrize("link", ["https://bit.ly/3xYz9Qa", "https://forms.gle/AbCdEf123", "https://www.dropbox.com/s/abc/slides.pdf"])
def test_honest_english_mail_with_a_shared_link_is_not_quarantined(settings, link):
    body = (f"Hi team,\n\nthe slides from Tuesday's planning meeting are here: {link}\n"
            "Let me know if anything is missing before Friday's review.\n\nThanks,\nEmily\n")
    verdict = scan(settings, make_message(from_="Emily Stone <estone@northwind.example.com>", subject="Slides", body=body),
                   mail_from="estone@northwind.example.com")
    assert verdict.action.value in ("deliver", "tag"), verdict.as_dict()
