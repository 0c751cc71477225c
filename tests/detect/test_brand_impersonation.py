"""A sender claiming a well-known brand it does not mail from; and the brands' own mail, which must pass."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.brand_catalogue import BrandDataError, load_brands
from kakuri.detect.brand_impersonation import FACT, BrandImpersonation
from kakuri.model import Envelope
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from tests.builders import make_message

DETECTOR = BrandImpersonation()


def check(raw: bytes, envelope: Envelope | None = None, detector: BrandImpersonation = DETECTOR) -> dict:
    ctx = ScanContext(envelope=envelope or Envelope())
    found = {f.symbol: f for f in detector.check(parse_message(raw), ctx)}
    return found


def verdict(settings, raw: bytes, envelope: Envelope | None = None):
    return Scanner(settings).scan(raw, envelope).verdict


def lure(from_: str, href: str, subject: str = "Action required", html_extra: str = "") -> bytes:
    return make_message(from_=from_, to="Hanako <hanako@tokai-keiki.example>", subject=subject,
                        html=f"{html_extra}<p>Your mailbox will be closed.</p><a href=\"{href}\">Keep my mailbox</a>")


@pytest.mark.parametrize("from_, brand", [
    ("Microsoft 365 <no-reply@hacked-bakery.test>", "microsoft"),
    ("\"ＰａｙＰａｌ\" <service@mailer-77.test>", "paypal"),
    ("PayPaI Service <info@mailer-77.test>", "paypal"),  # capital I for l
    ("=?utf-8?b?5LiJ5LqV5L2P5Y+L44Kr44O844OJ?= <info@card-info.test>", "smbc_card"),  # 三井住友カード
    ("Office365 ,_<x7@hacked-bakery.test>", "microsoft"),  # name split from the address by a comma
    ("<docusign@hacked-bakery.test>", "docusign"),  # the local part claims it
    ("Support <help@paypal.com.account-check.test>", "paypal"),  # the brand's domain as a subdomain
])
def test_sender_identity_claiming_a_brand_from_elsewhere(from_, brand):
    found = check(lure(from_, "https://account-check.test/login"))
    assert found["BRAND_IMPERSONATION"].evidence["brand"] == brand


def test_claim_publishes_the_brand_for_other_detectors():
    ctx = ScanContext()
    list(DETECTOR.check(parse_message(lure("DocuSign <sign@hacked-bakery.test>", "https://x.test/")), ctx))
    assert ctx.facts[FACT] == ["docusign"]


def test_brand_claim_with_a_link_to_a_free_page_is_quarantined(settings):
    raw = lure("Microsoft 365 <no-reply@hacked-bakery.test>", "https://mailbox-keep-3f.web.app/")
    result = verdict(settings, raw)
    assert result.action.value == "quarantine", result.as_dict()
    assert any("BRAND_IMPERSONATION_RISKY_LINK" in r for r in result.reasons)


def test_page_title_claim_with_a_lookalike_link_host():
    raw = lure("Customer Care <care@mailer-77.test>", "https://paypal-resolution-center.test/login",
               html_extra="<html><head><title>PayPal</title></head>")
    found = check(raw)
    assert found["BRAND_CLAIM_IN_CONTENT"].evidence["claimed_in"] == "title"
    assert found["BRAND_LOOKALIKE_LINK"].evidence["technique"] == "brand-name-in-host"


def test_logo_alt_text_is_a_claim():
    raw = lure("Notice <n@mailer-77.test>", "https://x.test/", html_extra='<img src="cid:logo" alt="DocuSign">')
    assert check(raw)["BRAND_CLAIM_IN_CONTENT"].evidence["claimed_in"] == "logo"


def test_free_mailbox_at_the_brands_own_service_counts_half():
    found = check(lure("Microsoft account team <ms.security.team42@outlook.com>", "https://x.test/"))
    assert found["BRAND_IMPERSONATION"].weight == 0.5


def test_brand_domain_in_from_with_envelope_and_links_elsewhere_is_unaligned():
    raw = lure("Cliente <pontos@bradesco.com.br>", "http://203-0-113-9.host.vps.test/001/")
    found = check(raw, Envelope(mail_from="root@vps-1cpu.test"))
    assert found["BRAND_FROM_UNALIGNED"].evidence == {
        "brand": "bradesco", "from_domain": "bradesco.com.br", "envelope_domain": "vps-1cpu.test", "links": "1"}
    assert "BRAND_IMPERSONATION" not in found  # the From itself is the brand's: forgery is sender_auth's finding
    listed = make_message(from_="Ana <ana@bradesco.com.br>", html='<a href="https://lists.dev.test/x">x</a>',
                          headers={"List-Id": "<devs.lists.dev.test>"})
    assert "BRAND_FROM_UNALIGNED" not in check(listed, Envelope(mail_from="devs-bounces@lists.dev.test"))
    to_brand = lure("Cliente <pontos@bradesco.com.br>", "https://banco.bradesco/pontos")
    assert "BRAND_FROM_UNALIGNED" not in check(to_brand, Envelope(mail_from="bounce@esp-mailer.test"))


# The false-positive traps: the brands' own mail, and mail about a brand from others.

def test_brand_mail_signed_by_the_brand_through_a_bulk_mailer_is_not_impersonation():
    raw = lure("PayPal <service@mailer.esp-bulk.test>", "https://click.esp-bulk.test/c/123")
    ctx = ScanContext(facts={"auth.dkim_domains": ("paypal.com",)})
    assert not [f for f in DETECTOR.check(parse_message(raw), ctx)]
    unsigned = ScanContext(facts={"auth.dkim_domains": ("esp-bulk.test",)})
    assert [f.symbol for f in DETECTOR.check(parse_message(raw), unsigned)] == ["BRAND_IMPERSONATION"]


def test_docusign_envelope_from_docusign_passes(settings):
    raw = make_message(from_="Tanaka via DocuSign <dse_na3@docusign.net>", subject="Please DocuSign: 契約書.pdf",
                       html='<img alt="DocuSign" src="https://na3.docusign.net/logo.png">'
                            '<a href="https://na3.docusign.net/Signing/EmailStart.aspx?a=1">REVIEW DOCUMENT</a>',
                       to="hanako@tokai-keiki.example")
    assert check(raw) == {}
    assert verdict(settings, raw).action.value == "deliver"


def test_microsoft_notice_from_microsoft_with_its_short_links_passes(settings):
    raw = make_message(from_="Microsoft account team <account-security-noreply@accountprotection.microsoft.com>",
                       subject="Microsoft account security info was added",
                       html='<a href="https://go.microsoft.com/fwlink/?LinkID=1">review</a>'
                            '<a href="https://aka.ms/mfasetup">set up</a>'
                            '<a href="https://account.live.com/activity">activity</a>')
    assert check(raw) == {}
    assert verdict(settings, raw).action.value == "deliver"


def test_card_statement_from_the_card_company_passes(settings):
    raw = make_message(
        from_="三井住友カード <statement@smbc-card.com>", subject="【三井住友カード】ご利用明細のお知らせ",
        html='<title>三井住友カード</title><a href="https://www.smbc-card.com/mem/index.jsp">Vpassへログイン</a>'
             '<a href="https://click.mail.test/c?u=' + quote("https://www.vpass.ne.jp/", safe="") + '">明細</a>')
    envelope = Envelope(mail_from="bounce@mail.smbc-card.com")
    assert check(raw, envelope) == {}
    assert verdict(settings, raw, envelope).action.value == "deliver"


def test_shop_newsletter_about_amazon_gift_cards_passes(settings):
    """A third party naming a brand in the subject, linking to the brand: mail about it, not from it."""
    raw = make_message(from_="Outdoor Shop <news@outdoor-shop.test>", subject="Amazonギフトカードが当たるキャンペーン",
                       body="お支払いはPayPalもご利用いただけます。",
                       html='<a href="https://www.outdoor-shop.test/campaign">キャンペーン</a>'
                            '<a href="https://www.amazon.co.jp/gc">Amazonギフトカード</a>'
                            '<p>お支払いはPayPalもご利用いただけます。</p>')
    assert check(raw) == {}
    assert verdict(settings, raw).action.value == "deliver"


def test_mailing_list_digest_mentioning_brands_is_not_quarantined(settings):
    links = "".join(f'<a href="https://lists.project.test/archives/msg{i}.html">msg {i}</a>' for i in range(20))
    raw = make_message(from_="razor-users-request@lists.project.test",
                       subject="razor-users digest, Vol 1 #42: Outlook and Microsoft Exchange filtering",
                       html=links + '<a href="https://bit.ly/3listfaq">FAQ</a>')
    assert "BRAND_IMPERSONATION" not in check(raw)
    assert verdict(settings, raw).action.value != "quarantine"


def test_a_shops_marketplace_storefront_name_is_not_a_claim():
    raw = lure("ABC家具 楽天市場店 <shop@abc-kagu.test>", "https://abc-kagu.test/order")
    assert "BRAND_IMPERSONATION" not in check(raw)
    assert "BRAND_IMPERSONATION" in check(lure("楽天市場 <shop@abc-kagu.test>", "https://abc-kagu.test/order"))


def test_person_named_like_a_brand_word_is_not_a_claim():
    raw = lure("Chase Norton <chase@consulting.test>", "https://consulting.test/report")
    assert check(raw) == {}


def test_operator_adds_a_brand(tmp_path: Path):
    folder = tmp_path / "brands"
    folder.mkdir()
    (folder / "local.toml").write_text(
        '[brands.kitaboshi_bank]\nnames = ["北星銀行"]\nhost_tokens = ["kitaboshi"]\n'
        'domains = ["kitaboshi-bank.example"]\n',
        encoding="utf-8")
    detector = BrandImpersonation(brand_folder=folder)
    found = check(lure("北星銀行 <info@mailer-77.test>", "https://kitaboshi-login.test/"), detector=detector)
    assert found["BRAND_IMPERSONATION"].evidence["brand"] == "kitaboshi_bank"
    assert found["BRAND_LOOKALIKE_LINK"].evidence["host"] == "kitaboshi-login.test"


def test_operator_brand_without_domains_says_what_to_do(tmp_path: Path):
    (tmp_path / "bad.toml").write_text('[brands.x]\nnames = ["X Corp"]\n', encoding="utf-8")
    with pytest.raises(BrandDataError, match="has no domains"):
        load_brands(tmp_path)


def test_stock_brand_file_is_valid_and_names_its_source():
    text = (resources.files("kakuri") / "data" / "brands.toml").read_text(encoding="utf-8")
    assert "Source:" in text and "Licence:" in text
    brands = tomllib.loads(text)["brands"]
    assert {"microsoft", "docusign", "smbc_card", "mufg", "yamato", "nta", "japan_post"} <= set(brands)
    for key, body in brands.items():
        assert body["domains"], key
        for domain in body["domains"]:
            assert domain == domain.lower() and "." in domain and "/" not in domain, (key, domain)
    load_brands()


def test_a_partner_named_after_a_brand_word_is_not_the_brand():
    from kakuri.model.knowledge import Person
    from kakuri.store.knowledge_index import KnowledgeIndex

    knowledge = KnowledgeIndex(our_domains=("kitaboshi.example",))
    knowledge.add_person(Person("大和 一郎", "ichiro@yamato-seiko.example", "partner", (), "大和精工"))
    raw = make_message(from_="大和精工 営業部 <ichiro@yamato-seiko.example>", subject="自動応答: RE: 見積書の件",
                       body="不在にしております。 https://www.yamato-seiko.example/contact/")
    ctx = ScanContext(envelope=Envelope(mail_from="ichiro@yamato-seiko.example"), knowledge=knowledge)
    assert {f.symbol for f in DETECTOR.check(parse_message(raw), ctx)} == set()
    assert "BRAND_LOOKALIKE_LINK" in check(raw)  # the same mail from nobody we know borrows Yamato's name


def test_a_brand_under_a_reserved_test_domain_is_the_brand():
    # RFC 2606 names (docusign.example) stand for the real domain in test mail; nobody can register them.
    raw = make_message(from_="Taro Yamada (via DocuSign) <dse-noreply@docusign.example>",
                       subject="山田さんがファイルを共有しました", body="共有されました: https://docusign.example/s/AbC123")
    assert check(raw, Envelope(mail_from="bounce@docusign.example")) == {}


@pytest.mark.parametrize("from_, subject, href", [
    ("ヤマト運輸 <info@delivery-notice.test>", "お荷物のお届けについて", "https://redelivery-7d2.pages.dev/"),
    ("国税庁 <nta@tax-office.test>", "【重要】未納税金のお知らせ", "https://storage.googleapis.com/nta-pay/index.html"),
    ("Amazon.co.jp <account@amaz0n-jp.test>", "アカウントを確認してください", "https://bit.ly/3amzjp"),
])
def test_japanese_brand_lures_to_free_pages_are_quarantined(settings, from_, subject, href):
    raw = make_message(from_=from_, subject=subject, to="hanako@tokai-keiki.example",
                       html=f'<p>以下のリンクからご確認ください。</p><a href="{href}">確認する</a>')
    result = verdict(settings, raw)
    assert result.action.value == "quarantine", result.as_dict()


def test_brand_newsletter_sent_from_a_bulk_mailers_domain_is_at_most_tagged(settings):
    """Older brand newsletters came from the mailer's domain with opaque tracking links: not a quarantine."""
    links = "".join(f'<a href="https://brandnews.esp-mailer.test/m/s.asp?H{i}X">Article {i}</a>' for i in range(12))
    raw = make_message(from_="Microsoft Office Tips <officetips@brandnews.esp-mailer.test>",
                       subject="This month's Office tips", to="hanako@tokai-keiki.example", html=links)
    assert check(raw)["BRAND_IMPERSONATION"].evidence["brand"] == "microsoft"
    assert verdict(settings, raw).action.value in ("deliver", "tag")
