import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.impersonation import Impersonation
from kakuri.detect.thread_hijack import ThreadHijack
from kakuri.model.knowledge import Person
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from tests.builders import make_message
from tests.knowledge_builders import NAMESAKE, org_knowledge


@pytest.fixture(scope="module")
def knowledge():
    return org_knowledge()


def _symbols(knowledge, **message) -> dict[str, dict]:
    parsed = parse_message(make_message(**message))
    return {f.symbol: dict(f.evidence) for f in Impersonation().check(parsed, ScanContext(knowledge=knowledge))}


@pytest.mark.parametrize(
    "display_name",
    ["佐々木 恵", "佐々木恵", "佐々木　恵 様", "Megumi Sasaki", "SASAKI Megumi", "Ｍｅｇｕｍｉ Ｓａｓａｋｉ"],
)
def test_staff_name_from_free_mail_is_flagged(knowledge, display_name):
    found = _symbols(knowledge, from_=f"{display_name} <msasaki.office@freemail.test>")
    assert found["IMPERSONATION_STAFF_NAME"]["impersonated"] == "megumi.sasaki@kitaboshi.example"


def test_ceo_and_it_department_names_from_outside_are_flagged(knowledge):
    assert "IMPERSONATION_STAFF_NAME" in _symbols(knowledge, from_="大川 誠 <ceo.office@freemail.test>")
    assert "IMPERSONATION_STAFF_NAME" in _symbols(knowledge, from_="情報システム部 <helpdesk@freemail.test>")


def test_close_spelling_of_a_partner_name_is_flagged(knowledge):
    found = _symbols(knowledge, from_="Koji Morrita <kmorita@freemail.test>")
    assert found["IMPERSONATION_PARTNER_NAME"]["impersonated"] == "k-morita@hoshizora-denki.example"


def test_our_staff_writing_from_our_domains_is_clean(knowledge):
    assert _symbols(knowledge, from_="佐々木 恵 <megumi.sasaki@kitaboshi.example>") == {}
    assert _symbols(knowledge, from_="Megumi Sasaki <sales@kb-trading.example>") == {}


def test_partner_writing_from_a_second_address_of_the_same_organisation_is_clean(knowledge):
    assert _symbols(knowledge, from_="森田 浩二 <morita.k@hoshizora-denki.example>") == {}
    assert _symbols(knowledge, from_="森田 浩二 <k-morita@mail.hoshizora-denki.example>") == {}


def test_known_correspondent_sharing_a_colleagues_name_is_clean(knowledge):
    assert _symbols(knowledge, from_=f"佐々木 恵 <{NAMESAKE}>") == {}


def test_partner_name_on_an_unrelated_address_is_flagged(knowledge):
    found = _symbols(knowledge, from_="森田 浩二 <host34@construction.test>")
    assert set(found) == {"IMPERSONATION_PARTNER_NAME"}


def test_partner_name_on_one_of_our_accounts_is_flagged(knowledge):
    # What an infected PC's spam module sends: a harvested partner name on our user's account.
    assert "IMPERSONATION_PARTNER_NAME" in _symbols(knowledge, from_="Emily Stone <sho.ueda@kb-trading.example>")


def test_trusted_address_inside_the_display_name_is_flagged(knowledge):
    found = _symbols(knowledge, from_='"k-morita@hoshizora-denki.example (森田 浩二)" <link97@webmail.test>')
    assert found["IMPERSONATION_ADDRESS_IN_NAME"]["shown"] == "k-morita@hoshizora-denki.example"
    assert "IMPERSONATION_PARTNER_NAME" in found


def test_newsletter_with_a_company_display_name_is_clean(knowledge):
    found = _symbols(knowledge, from_="Hoshizora Denki News <news@mailer.example.net>")
    assert found == {}


def test_reply_to_with_a_staff_name_elsewhere_is_flagged(knowledge):
    found = _symbols(
        knowledge,
        from_="森田 浩二 <k-morita@hoshizora-denki.example>",
        headers={"Reply-To": "大川 誠 <okawa.ceo@freemail.test>"},
    )
    assert {"IMPERSONATION_REPLYTO_NAME", "FROM_REPLYTO_MISMATCH"} <= set(found)


def test_mailing_list_reply_to_is_not_a_mismatch(knowledge):
    found = _symbols(
        knowledge,
        from_="森田 浩二 <k-morita@hoshizora-denki.example>",
        headers={"Reply-To": "ml@lists.example.org", "List-Id": "<ml.lists.example.org>"},
    )
    assert found == {}


def test_staff_name_spoof_alone_reaches_quarantine(settings, knowledge):
    scanner = Scanner(settings, knowledge=knowledge, detectors=[Impersonation(), ThreadHijack()])
    raw = make_message(from_="大川 誠 <ceo.okawa@freemail.test>", subject="【至急】振込先変更の件")
    assert scanner.scan(raw).verdict.action.value == "quarantine"
    benign = make_message(from_="大川 誠 <makoto.okawa@kitaboshi.example>", subject="定例会議")
    assert scanner.scan(benign).verdict.action.value == "deliver"


@pytest.mark.parametrize("display_name", ["北星計器 佐々木恵", "北星計器佐々木恵", "Kitaboshi Megumi Sasaki"])
def test_staff_name_written_after_a_company_name_is_flagged(knowledge, display_name):
    assert "IMPERSONATION_STAFF_NAME" in _symbols(knowledge, from_=f"{display_name} <sales@freemail.test>")


def test_second_free_mail_address_is_not_the_partners_organisation():
    knowledge = org_knowledge()
    knowledge.add_person(Person("川口 進", "kawaguchi.susumu@gmail.com", "partner", ("Susumu Kawaguchi",)))
    found = _symbols(knowledge, from_="川口 進 <kawaguchi.invoice@gmail.com>")
    assert "IMPERSONATION_PARTNER_NAME" in found


def test_very_long_display_name_is_handled(knowledge):
    name = "佐々木 恵 " + "あ" * 10_000  # built by hand: the stdlib folder is slow on such headers
    raw = make_message(from_="X <a@b.test>").replace(b"From: X", b"From: " + name.encode("utf-8"))
    parsed = parse_message(raw)
    found = list(Impersonation().check(parsed, ScanContext(knowledge=knowledge)))
    assert [f.symbol for f in found] == ["IMPERSONATION_STAFF_NAME"]


def test_list_post_by_a_stranger_with_a_colleagues_name_counts_half(knowledge):
    raw = make_message(from_="佐々木 恵 <m.sasaki@sensor-lab.example>", headers={"List-Id": "<keisoku.ml.example>"})
    [finding] = Impersonation().check(parse_message(raw), ScanContext(knowledge=knowledge))
    assert (finding.symbol, finding.weight) == ("IMPERSONATION_STAFF_NAME", 0.5)


def test_reply_diverted_to_a_colleagues_name_elsewhere_reaches_quarantine(settings, knowledge):
    """BEC with our own From (spoofed) and the colleague's name on a free-mail Reply-To: no payload needed."""
    scanner = Scanner(settings, knowledge=knowledge, detectors=[Impersonation(), ThreadHijack()])
    raw = make_message(from_="大川 誠 <makoto.okawa@kitaboshi.example>", subject="至急",
                       headers={"Reply-To": "Makoto Okawa <m.okawa.office@freemail.test>"}, body="今お時間ありますか？")
    assert scanner.scan(raw).verdict.action.value == "quarantine"
    # A colleague who wants answers at a shared mailbox of ours is not diverting anything.
    benign = make_message(from_="大川 誠 <makoto.okawa@kitaboshi.example>",
                          headers={"Reply-To": "IT Support Desk <it-support@kitaboshi.example>"})
    assert scanner.scan(benign).verdict.action.value == "deliver"


def test_colleagues_address_as_display_name_counts_as_their_name(knowledge):
    found = _symbols(knowledge, from_='"makoto.okawa@kitaboshi.example" <office@yamabiko-travel.test>')
    assert found["IMPERSONATION_STAFF_NAME"]["impersonated"] == "makoto.okawa@kitaboshi.example"
    assert "IMPERSONATION_ADDRESS_IN_NAME" in found


def test_list_software_showing_a_colleagues_address_is_not_a_staff_impostor(knowledge):
    found = _symbols(knowledge, from_='"makoto.okawa@kitaboshi.example via Users" <users@lists.example.org>',
                     headers={"List-Id": "<users.lists.example.org>"})
    assert "IMPERSONATION_STAFF_NAME" not in found


@pytest.mark.parametrize("from_", [
    "Megumi Sasaki (via Google Drive) <drive-shares-dm-noreply@google.example>",
    "佐々木 恵（Google ドライブ経由） <drive-shares-noreply@google.example>",
    "Megumi Sasaki via DocuSign <no-reply@docusign.example>",
])
def test_saas_notice_sent_for_a_colleague_counts_half(settings, knowledge, from_):
    scanner = Scanner(settings, knowledge=knowledge, detectors=[Impersonation(), ThreadHijack()])
    verdict = scanner.scan(make_message(from_=from_, subject="ファイルが共有されました")).verdict
    assert "IMPERSONATION_STAFF_NAME" in verdict.symbols
    assert verdict.action.value != "quarantine", verdict.as_dict()


def test_via_in_the_name_of_a_personal_mailbox_is_still_an_impostor(knowledge):
    found = _symbols(knowledge, from_="Megumi Sasaki via Mobile <megumi.sasaki.1@freemail.test>")
    assert "IMPERSONATION_STAFF_NAME" in found


@pytest.mark.parametrize("display_name", [
    '"k-morita @ hoshizora-denki.example"',
    '"k-morita[at]hoshizora-denki.example"',
    '"k-morita@hoshizora\u2010denki.example"',
    '"森田 浩二 <k-morita@hoshizora-den ki.example>"',
    '"k-morita@hoshizora-denki.ex ample"',
])
def test_address_in_name_written_to_dodge_parsers_is_read_as_a_reader_would(knowledge, display_name):
    found = _symbols(knowledge, from_=f"{display_name} <office@yamanami-ryokan.test>")
    assert found["IMPERSONATION_ADDRESS_IN_NAME"]["shown"] == "k-morita@hoshizora-denki.example"
    assert found["IMPERSONATION_ADDRESS_IN_NAME"]["shown_is_known"] == "yes"


def test_display_name_with_an_at_sign_but_no_address_is_clean(knowledge):
    assert _symbols(knowledge, from_='"Sales Team @ Osaka Office" <sales@yamanami-ryokan.test>') == {}
