"""Lookalike domains of ours and of partners, in sender addresses."""

from __future__ import annotations

import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.lookalike import LookalikeDomains, find_lookalike, skeleton
from kakuri.model import Envelope
from kakuri.model.knowledge import StaticKnowledge
from kakuri.parse.mime import parse_message
from tests.builders import make_message

KNOWLEDGE = StaticKnowledge(
    {"kitakami-denso.example", "kd-trading.example", "kitakamidenso-asia.example"},
    {"shirane-seimitsu.co.jp", "alpine-optics.example.com"},
)


@pytest.mark.parametrize(("host", "imitates", "technique"), [
    ("kitakami-densо.example", "kitakami-denso.example", "homoglyph"),  # Cyrillic o
    ("xn--kitakami-dens-u7k.example", "kitakami-denso.example", "homoglyph"),  # the same, as punycode
    ("k1takami-denso.example", "kitakami-denso.example", "homoglyph"),
    ("kitakami-denso.co.jp", "kitakami-denso.example", "tld-swap"),
    ("kitakamidenso.example", "kitakami-denso.example", "hyphen"),
    ("kitakami-denso-jp.example", "kitakami-denso.example", "added-word"),
    ("mail-kitakami-denso.example", "kitakami-denso.example", "added-word"),
    ("kitakami-denso.example.evil.test", "kitakami-denso.example", "subdomain"),
    ("kitakmai-denso.example", "kitakami-denso.example", "edit-distance"),  # swapped letters
    ("shirane-seimltsu.co.jp", "shirane-seimitsu.co.jp", "homoglyph"),  # l for i
    ("shirane-seimitu.co.jp", "shirane-seimitsu.co.jp", "edit-distance"),  # a letter dropped
    ("alpine-0ptics.example.com", "alpine-optics.example.com", "homoglyph"),
])
def test_lookalike_techniques(host, imitates, technique):
    hit = find_lookalike(host, KNOWLEDGE)
    assert hit is not None and (hit.imitates, hit.technique) == (imitates, technique)


@pytest.mark.parametrize("host", [
    "kitakami-denso.example",  # exact
    "mail.kitakami-denso.example",  # subdomain of the real one
    "KITAKAMI-DENSO.EXAMPLE.",
    "ｋｉｔａｋａｍｉ-ｄｅｎｓｏ.example",  # full-width: IDNA maps it to the real name
    "kitakamidenso-asia.example",  # our other company, close to the first but known
    "kd-trading.example",
    "shirane-seimitsu.co.jp",
    "kitakami-dental.example",  # a different name, not a near miss
    "alpine.example.com",
    "198.51.100.7",
    "",
])
def test_known_domains_and_unrelated_names_do_not_fire(host):
    assert find_lookalike(host, KNOWLEDGE) is None


def test_short_names_are_not_compared_by_distance():
    knowledge = StaticKnowledge({"abcd.example"})
    assert find_lookalike("abce.example", knowledge) is None


def test_skeleton_folds_cross_script_confusables():
    assert skeleton("аlpinе") == skeleton("alpine")  # Cyrillic а and е
    assert skeleton("ɑlpine") == skeleton("alpine")  # Latin alpha
    assert skeleton("rnail") == skeleton("mail")
    assert skeleton("alpine") != skeleton("alpino")


def check(raw: bytes, mail_from: str = "") -> dict:
    ctx = ScanContext(envelope=Envelope(mail_from=mail_from), knowledge=KNOWLEDGE)
    return {f.symbol: f for f in LookalikeDomains().check(parse_message(raw), ctx)}


def test_from_address_imitating_our_domain_is_flagged():
    findings = check(make_message(from_="社長 <president@kitakami-densso.example>"))
    evidence = findings["LOOKALIKE_OUR_DOMAIN"].evidence
    assert evidence["where"] == "from" and evidence["imitates"] == "kitakami-denso.example"


def test_reply_to_and_envelope_imitating_a_partner_are_flagged_once_per_domain():
    raw = make_message(from_="Sato <sato@gmail.example>", headers={"Reply-To": "sato@shirane-seimitsu.jp"})
    findings = check(raw, mail_from="bounce@shirane-seimitsu.jp")
    assert findings["LOOKALIKE_PARTNER_DOMAIN"].evidence["where"] == "reply-to"
    assert len(findings) == 1


def test_real_partner_from_a_second_address_is_clean():
    raw = make_message(from_="Sato <t.sato@shirane-seimitsu.co.jp>",
                       headers={"Reply-To": "sales@shirane-seimitsu.co.jp"})
    assert check(raw, mail_from="bounces@mail.shirane-seimitsu.co.jp") == {}


def test_without_known_domains_nothing_fires():
    ctx = ScanContext(knowledge=StaticKnowledge())
    assert list(LookalikeDomains().check(parse_message(make_message(from_="a@kitakami-densso.example")), ctx)) == []


def _with_directory(raw: bytes) -> dict:
    from tests.knowledge_builders import org_knowledge

    ctx = ScanContext(knowledge=org_knowledge())
    return {f.symbol: f for f in LookalikeDomains().check(parse_message(raw), ctx)}


def test_lookalike_address_copying_a_colleagues_mailbox_is_flagged():
    found = _with_directory(make_message(from_="<megumi.sasaki@kitab0shi.example>", body="至急お願いします。"))
    assert found["LOOKALIKE_KNOWN_MAILBOX"].evidence["copies"] == "megumi.sasaki@kitaboshi.example"
    assert "LOOKALIKE_OUR_DOMAIN" in found


def test_lookalike_domain_with_an_unknown_mailbox_is_only_the_domain_finding():
    found = _with_directory(make_message(from_="info@kitab0shi.example"))
    assert set(found) == {"LOOKALIKE_OUR_DOMAIN"}


def test_bec_from_a_lookalike_of_our_domain_copying_a_mailbox_is_quarantined(settings):
    from kakuri.pipeline import Scanner
    from tests.knowledge_builders import org_knowledge

    scanner = Scanner(settings, knowledge=org_knowledge(), detectors=[LookalikeDomains()])
    raw = make_message(from_="<makoto.okawa@kitaboshi-jp.example>", body="今日中に振込をお願いできますか。")
    assert scanner.scan(raw).verdict.action.value == "quarantine"
