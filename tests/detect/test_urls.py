"""Lure links: downloads, disguised hosts, anchor-text mismatch, feeds; and link-heavy mail that must stay clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.link_destinations import LinkDestinations
from kakuri.detect.lookalike import LookalikeDomains
from kakuri.detect.urls import UrlLures
from kakuri.model.knowledge import StaticKnowledge
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from tests.builders import make_message

KNOWLEDGE = StaticKnowledge({"kitakami-denso.example"}, {"shirane-seimitsu.co.jp"})
SENDER = "Sato <sato@shirane-seimitsu.co.jp>"


def scanner(settings) -> Scanner:
    """The stock policy with only the detectors this test is about."""
    return Scanner(settings, knowledge=KNOWLEDGE, detectors=[LookalikeDomains(), UrlLures(), LinkDestinations()])


CONTEXT = "URL_LINK_UNKNOWN_HOST"  # scored only in composites with impersonation


def check(raw: bytes, detector: UrlLures | None = None) -> dict:
    """The lure findings, without the context-only symbol."""
    ctx = ScanContext(knowledge=KNOWLEDGE)
    return {f.symbol: f for f in (detector or UrlLures()).check(parse_message(raw), ctx) if f.symbol != CONTEXT}


def lure(href: str, text: str | None = None, from_: str = "Sato <info@flower-shop.test>") -> bytes:
    anchor = text if text is not None else href
    return make_message(from_=from_, body="請求書をダウンロードしてください。\n",
                        html=f'<p>請求書をダウンロードしてください。</p><p><a href="{href}">{anchor}</a></p>')


def test_office_document_on_a_hacked_site_is_a_download_from_an_unrelated_host():
    found = check(lure("https://blog.flower.test/wp-content/uploads/2024/05/INV_0042.doc", "請求書をダウンロード"))
    assert {"URL_FILE_DOWNLOAD", "URL_DOWNLOAD_UNRELATED_HOST", "URL_CMS_INTERNAL_PATH"} <= set(found)
    assert found["URL_FILE_DOWNLOAD"].evidence["file"] == "INV_0042.doc"


def test_archive_on_an_ip_literal_in_plain_text():
    found = check(make_message(body="ダウンロード：http://203.0.113.50/INVOICE/scan_55.zip\n"))
    assert {"URL_FILE_DOWNLOAD", "URL_IP_HOST"} <= set(found)


def test_executable_and_script_downloads_are_their_own_symbol():
    found = check(make_message(body="https://cdn.example.net/update/setup.js and http://x.example:8443/a.iso"))
    assert found["URL_EXECUTABLE_DOWNLOAD"].evidence["count"] == "2"
    assert found["URL_NONSTANDARD_PORT"].evidence["port"] == "8443"


def test_anchor_showing_our_domain_but_opening_another_site():
    found = check(lure("http://files.other.test/d/document.zip", "https://kitakami-denso.example/share/a8f"))
    assert found["URL_TEXT_MISMATCH_KNOWN_DOMAIN"].evidence["shown"] == "kitakami-denso.example"


def test_lookalike_link_host():
    found = check(lure("https://shirane-selmitsu.co.jp/files/document.zip", "資料"))
    assert found["URL_LOOKALIKE_DOMAIN"].evidence["imitates"] == "shirane-seimitsu.co.jp"


def test_userinfo_trick_idn_and_script_scheme():
    raw = make_message(html=(
        '<a href="https://kitakami-denso.example@203.0.113.9/login">x</a>'
        '<a href="https://xn--80ak6aa92e.example/">y</a>'
        '<a href="javascript:location=\'https://e.test\'">z</a>'
        '<img src="data:image/png;base64,iVBORw0KGgo=">'))
    found = check(raw)
    assert {"URL_USERINFO", "URL_IP_HOST", "URL_IDN_HOST", "URL_SCRIPT_SCHEME"} <= set(found)
    assert found["URL_SCRIPT_SCHEME"].evidence["count"] == "1"  # the inline image is not a link


def test_partner_sharing_a_file_from_its_own_server_is_only_a_download():
    raw = make_message(from_=SENDER, body="図面です: https://share.shirane-seimitsu.co.jp/dl/drawing_v2.zip\n")
    assert set(check(raw)) == {"URL_FILE_DOWNLOAD"}


def test_file_name_in_anchor_text_is_not_a_domain_mismatch():
    found = check(lure("https://files.flower.test/document.zip", "document.zip"))
    assert "URL_TEXT_MISMATCH" not in found and "URL_TEXT_MISMATCH_KNOWN_DOMAIN" not in found


def newsletter(links: int = 40) -> bytes:
    html = "".join(
        f'<p><a href="https://click.mailer.example/ls/click?upn={i}x">https://www.fa-news.example/article/{i}</a></p>'
        for i in range(links)) + '<img src="https://click.mailer.example/open.gif" width="1">'
    return make_message(from_="FA News <mag@fa-news.example>", html=html,
                        headers={"List-Unsubscribe": "<https://click.mailer.example/unsub>"})


def test_newsletter_with_tracking_links_scores_below_tag(settings):
    found = check(newsletter())
    assert set(found) == {"URL_TEXT_MISMATCH"}  # an ESP tracker in front of the sender's own URLs
    verdict = scanner(settings).scan(newsletter()).verdict
    assert verdict.score < settings.policy.thresholds["inbound"].tag


def test_meeting_invitation_link_is_clean():
    body = "会議URL: https://meet.example.com/j/8431234567?pwd=abc\nhttps://teams.example/l/meetup-join/19%3ameeting\n"
    raw = make_message(from_=SENDER, body=body)
    assert check(raw) == {}


def test_lure_link_with_ip_host_is_quarantined_by_policy(settings):
    raw = make_message(from_="Sato <info@flower-shop.test>", body="請求書: https://198.51.100.186/INVOICE/INV_2872.doc\n")
    verdict = scanner(settings).scan(raw).verdict
    assert verdict.action.value == "quarantine", verdict.as_dict()


def test_lure_link_behind_our_domain_is_quarantined_by_policy(settings):
    raw = lure("https://shirane-selmitsu.co.jp/share/document.zip", "https://kitakami-denso.example/share/x1")
    verdict = scanner(settings).scan(raw).verdict
    assert verdict.action.value == "quarantine", verdict.as_dict()


@pytest.fixture
def feed_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "urlhaus"
    folder.mkdir()
    (folder / "csv.txt.csv").write_text(
        "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n"
        '"1","2020-02-06 03:17:53","https://dance-studio.test/Zd9CN/","online","","malware_download","emotet","",""\n'
        '"2","2020-02-06","http://www.flower-lab.test/wp-includes/ZO/","online","","malware_download","","",""\n'
        "not,a,valid\n", encoding="utf-8")
    (folder / "broken.csv").write_bytes(b"\xff\xfe\x00garbage")
    return folder


def test_feed_matches_by_full_url_then_by_host(feed_dir):
    detector = UrlLures(feed_dir)
    found = check(make_message(body="https://DANCE-studio.test/Zd9CN and http://www.flower-lab.test/other"), detector)
    assert found["URL_FEED_MATCH"].evidence["url"] == "https://DANCE-studio.test/Zd9CN"
    assert found["URL_FEED_HOST_MATCH"].evidence["host"] == "www.flower-lab.test"


def test_missing_feed_folder_means_no_feed_symbols(tmp_path):
    found = check(make_message(body="https://dance-studio.test/Zd9CN/"), UrlLures(tmp_path / "absent"))
    assert not any(s.startswith("URL_FEED") for s in found)


def test_extensionless_link_into_a_hacked_sites_cms_folder():
    found = check(make_message(body="請求書: https://green-farm.test/wp-admin/css/colors/17ss8n/\n"))
    assert found["URL_CMS_INTERNAL_PATH"].evidence["host"] == "green-farm.test"
    assert "URL_FILE_DOWNLOAD" not in found


def test_wordpress_notification_from_the_site_itself_is_clean():
    raw = make_message(from_="WordPress <wordpress@blog.flower.test>",
                       body="Approve it: https://blog.flower.test/wp-admin/comment.php?action=approve&c=12\n")
    assert check(raw) == {}


def test_download_link_under_a_partners_name_is_quarantined_with_the_identity_detectors(settings):
    """The lure_link shape: a partner's display name on a stranger's address, one link to a document."""
    from kakuri.detect.registry import build_detectors
    from tests.knowledge_builders import org_knowledge

    knowledge = org_knowledge()
    scanner = Scanner(settings, knowledge=knowledge, detectors=build_detectors(settings))
    raw = make_message(from_="森田 浩二 <info@some-dental.test>", to="佐々木 恵 <megumi.sasaki@kitaboshi.example>",
                       subject="請求書の件", body="請求書: http://travel-agent.test/cgi-bin/dl/INV_6559.doc\n")
    verdict = scanner.scan(raw).verdict
    assert verdict.action.value == "quarantine", verdict.as_dict()
    assert "URL_RISKY_LINK_IMPERSONATION" in verdict.symbol_scores

    honest = make_message(from_="森田 浩二 <k-morita@hoshizora-denki.example>",
                          to="佐々木 恵 <megumi.sasaki@kitaboshi.example>",
                          body="図面: https://files.hoshizora-denki.example/share/drawing_v2.zip\n")
    assert scanner.scan(honest).verdict.action.value == "deliver"


@pytest.mark.parametrize("url", [
    "http://10.20.30.40/share/営業部/report.xlsx",
    "http://192.168.1.5:8080/wiki/manual.docx",
    "http://172.20.0.9/files/backup.zip",
    "http://fileserver01/share/見積書.xlsx",
])
def test_links_into_the_intranet_are_not_lures(url):
    raw = make_message(from_="Suzuki <suzuki@kitakami-denso.example>", body=f"資料はこちら:\n{url}\n")
    assert list(UrlLures().check(parse_message(raw), ScanContext(knowledge=KNOWLEDGE))) == []


def test_link_to_a_site_neither_ours_nor_a_partners_is_context():
    found = {f.symbol: f for f in UrlLures().check(parse_message(make_message(
        from_="Sato <info@flower-shop.test>", body="https://flower-shop.test/news/1\nhttps://shirane-seimitsu.co.jp/x\n")),
        ScanContext(knowledge=KNOWLEDGE))}
    assert found[CONTEXT].evidence == {"url": "https://flower-shop.test/news/1", "host": "flower-shop.test", "count": "1"}


def test_partner_name_impostor_with_an_extensionless_link_is_quarantined(settings):
    """The lure needs no .doc or CMS folder when the display name already lies."""
    from kakuri.detect.registry import build_detectors
    from tests.knowledge_builders import org_knowledge

    scanner = Scanner(settings, knowledge=org_knowledge(), detectors=build_detectors(settings))
    raw = make_message(from_="Koji Morita <office@yamanami-ryokan.test>", to="<megumi.sasaki@kitaboshi.example>",
                       subject="請求書", body="請求書は以下からご確認ください。\nhttps://yamanami-ryokan.test/Invoice/x7k2qz/\n")
    verdict = scanner.scan(raw).verdict
    assert verdict.action.value == "quarantine", verdict.as_dict()
    own_site = make_message(from_="森田 浩二 <kmorita.home@freemail.test>", to="<megumi.sasaki@kitaboshi.example>",
                            body="新製品です。\nhttps://www.hoshizora-denki.example/products/new\n")
    assert scanner.scan(own_site).verdict.action.value != "quarantine"


def test_public_ip_download_is_still_a_lure_next_to_an_intranet_link():
    raw = make_message(body="http://10.1.2.3/share/a.xlsx\nhttp://198.51.100.7/INVOICE/INV_1.doc\n")
    found = check(raw)
    assert found["URL_IP_HOST"].evidence["host"] == "198.51.100.7"
    assert found["URL_FILE_DOWNLOAD"].evidence["count"] == "1"


@pytest.mark.parametrize("href", ["http://198.51.100.23/x7k2qz/", "https://bit.ly/3xYzAbc",
                                  "https://green-farm.test/wp-admin/css/colors/17ss8n/"])
def test_our_address_shown_over_an_extensionless_risky_link_is_quarantined(settings, href):
    raw = lure(href, "https://kitakami-denso.example/share/invoice")
    verdict = scanner(settings).scan(raw).verdict
    assert verdict.action.value == "quarantine", verdict.as_dict()


def test_partner_newsletter_through_a_click_tracker_is_not_quarantined(settings):
    raw = lure("https://click.mailer.example/ls/click?upn=a8f7", "https://shirane-seimitsu.co.jp/news/2020-09",
               from_="Shirane News <news@shirane-seimitsu.co.jp>")
    assert scanner(settings).scan(raw).verdict.action.value != "quarantine"


@pytest.mark.parametrize("href", [
    "http://mail.redirector.test//jump/http://www.conference.test",  # a redirector naming its target
    "https://click.esp.test/track/click/3047/www.shop-news.test?p=eyJ",  # the target host as a path segment
    "https://click.esp.test/track/click/3047/store.shop-news.com?p=eyJ",
    "http://boingboing.test/redhotjazz.com",  # a blog's broken link to a site
    "https://ads.network.test/event/nc=0/data=//example.com?id=28",
    "http://cgi.auction.test/ws/eBayISAPI.dll?ViewItem&item=1234",  # an IIS ISAPI endpoint with a query
])
def test_a_host_name_or_server_endpoint_in_the_path_is_not_a_file_download(href):
    found = check(lure(href, "details"))
    assert not {"URL_EXECUTABLE_DOWNLOAD", "URL_FILE_DOWNLOAD", "URL_DOWNLOAD_UNRELATED_HOST"} & set(found)


@pytest.mark.parametrize("href", [
    "http://files.other.test/d/invoice.scr",
    "http://files.other.test/d/setup.exe?v=2",
    "http://files.other.test/d/loader.dll",
])
def test_executables_stay_downloads_beside_the_endpoint_rule(href):
    assert "URL_EXECUTABLE_DOWNLOAD" in check(lure(href, "details"))


def test_a_download_behind_an_open_redirector_is_judged_at_its_target():
    found = check(lure("https://www.google.test/url?q=http://198.51.100.7/INVOICE/INV_1.doc", "請求書"))
    assert found["URL_FILE_DOWNLOAD"].evidence["via"] == "www.google.test"
    assert found["URL_IP_HOST"].evidence["host"] == "198.51.100.7"


def test_a_tracker_link_whose_text_names_the_shop_it_forwards_to_is_no_mismatch():
    href = "https://click.news-esp.test/c?u=https%3A%2F%2Fwww.outdoor-shop.test%2Fsale"
    assert "URL_TEXT_MISMATCH" not in check(lure(href, "www.outdoor-shop.test/sale"))
    assert check(lure(href, "www.other-shop.test"))["URL_TEXT_MISMATCH"].evidence["opens"] == "www.outdoor-shop.test"
