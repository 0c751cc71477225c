"""Links to where anyone can publish (cloud pages, free hosts, forms, IPFS, tunnels), judged where they land."""

from __future__ import annotations

import base64
import tomllib
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.link_destinations import CLASS_SYMBOLS, DestinationDataError, LinkDestinations, load_destinations
from kakuri.model import Envelope
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from tests.builders import make_message

DETECTOR = LinkDestinations()


def check(raw: bytes, envelope: Envelope | None = None, detector: LinkDestinations = DETECTOR) -> dict:
    ctx = ScanContext(envelope=envelope or Envelope())
    return {f.symbol: f for f in detector.check(parse_message(raw), ctx)}


def linking(href: str, text: str = "Open the document", to: str = "Hanako <hanako@tokai-keiki.example>") -> bytes:
    return make_message(from_="Billing <billing@someshop.test>", to=to, subject="Document",
                        html=f'<p>You have a new document.</p><a href="{href}">{text}</a>')


@pytest.mark.parametrize("href, symbol", [
    ("https://storage.googleapis.com/bucket-x1/index.html", "URL_CLOUD_HOSTING"),
    ("https://login-verify-7f3a.web.app/", "URL_CLOUD_HOSTING"),
    ("https://pub-4d1a9c.r2.dev/page.html", "URL_CLOUD_HOSTING"),
    ("https://acct.blob.core.windows.net/$web/index.html", "URL_CLOUD_HOSTING"),
    ("https://sign-in-x.workers.dev/", "URL_CLOUD_HOSTING"),
    ("https://4f2a-203-0-113-5.ngrok-free.app/login", "URL_TUNNEL"),
    ("https://secure-docs-portal.weebly.com/", "URL_FREE_HOST"),
    ("https://docs.google.com/forms/d/e/1FAIpQLSf/viewform", "URL_FORM_BUILDER"),
    ("https://form.jotform.com/231234567", "URL_FORM_BUILDER"),
    ("https://docs.google.com/document/d/1abc/edit", "URL_FILE_SHARING"),
    ("https://ipfs.io/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "URL_IPFS"),
    ("https://gateway.unknown-gw.test/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/x.html",
     "URL_IPFS"),
    ("http://office-login.duckdns.org/", "URL_DYNAMIC_DNS"),
    ("https://bit.ly/3xYzAbc", "URL_SHORTENER"),
    ("https://www.google.com/url?q=https://lure.test/", "URL_OPEN_REDIRECTOR"),
])
def test_destination_class_is_reported_with_the_url(href, symbol):
    found = check(linking(href))
    assert symbol in found, found
    assert found[symbol].evidence["url"].startswith(href[:40])


def test_a_host_name_spelling_an_ip_address_is_a_rented_server():
    found = check(linking("http://203.0.113.97.host.vps-provider.test/001/?h=x"))
    assert found["URL_IP_IN_HOSTNAME"].evidence["host"] == "203.0.113.97.host.vps-provider.test"
    assert "URL_IP_IN_HOSTNAME" not in check(linking("https://www.shop-2024.test/v1.2.3/notes"))


def test_the_target_inside_a_tracker_link_is_judged_and_the_tracker_named():
    href = "https://click.mailer.test/c?u=" + quote("https://acct-check.firebaseapp.com/login", safe="")
    found = check(linking(href))
    assert found["URL_CLOUD_HOSTING"].evidence["host"] == "acct-check.firebaseapp.com"
    assert found["URL_CLOUD_HOSTING"].evidence["via"] == "click.mailer.test"


def test_a_security_gateways_rewritten_link_is_unwrapped_not_reported():
    href = "https://eur01.safelinks.protection.outlook.com/?url=" + quote("https://x.pages.dev/a", safe="") + "&data=1"
    found = check(linking(href))
    assert found["URL_CLOUD_HOSTING"].evidence["host"] == "x.pages.dev"
    assert set(found) == {"URL_CLOUD_HOSTING"}


def test_images_loaded_from_a_bucket_are_not_links():
    raw = make_message(html='<img src="https://storage.googleapis.com/newsletter-assets/logo.png"><a '
                            'href="https://www.someshop.test/sale">Sale</a>')
    assert check(raw) == {}


def test_recipient_address_in_fragment_plain_and_base64():
    rcpt = "hanako@tokai-keiki.example"
    encoded = base64.b64encode(f"{rcpt}&t=1".encode()).decode()
    fragment = check(linking(f"https://lure.test/login#{rcpt}"), Envelope(rcpt_tos=(rcpt,)))
    assert fragment["URL_RECIPIENT_IN_FRAGMENT"].evidence["recipient"] == rcpt
    query = check(linking(f"https://lure.test/login?e={encoded}"), Envelope(rcpt_tos=(rcpt,)))
    assert "URL_RECIPIENT_IN_URL" in query
    from_to_header = check(linking("https://lure.test/x?email=" + quote(rcpt, safe="")))
    assert "URL_RECIPIENT_IN_URL" in from_to_header


def test_other_addresses_in_a_link_are_not_the_recipient():
    found = check(linking("https://lure.test/login#someone.else@elsewhere.test"), Envelope(rcpt_tos=("a@b.example",)))
    assert not {"URL_RECIPIENT_IN_URL", "URL_RECIPIENT_IN_FRAGMENT"} & set(found)


def test_operator_file_adds_entries(tmp_path: Path):
    folder = tmp_path / "link_destinations"
    folder.mkdir()
    (folder / "local.toml").write_text('[classes.free_host]\nentries = ["pages.hoster.test"]\n', encoding="utf-8")
    found = check(linking("https://victim.pages.hoster.test/"), detector=LinkDestinations(folder))
    assert "URL_FREE_HOST" in found


def test_operator_file_with_unknown_class_says_what_to_do(tmp_path: Path):
    (tmp_path / "bad.toml").write_text('[classes.phishy]\nentries = ["x.test"]\n', encoding="utf-8")
    with pytest.raises(DestinationDataError, match="unknown class 'phishy'"):
        load_destinations(tmp_path)


def test_stock_data_file_is_valid_and_names_its_source():
    text = (resources.files("kakuri") / "data" / "link_destinations.toml").read_text(encoding="utf-8")
    assert "Source:" in text and "Licence:" in text
    classes = tomllib.loads(text)["classes"]
    assert set(classes) == set(CLASS_SYMBOLS)
    for name, body in classes.items():
        entries = body["entries"]
        assert len(entries) == len(set(entries)), f"duplicates in {name}"
    load_destinations()  # every entry passes validation


def test_newsletter_with_tracking_redirectors_is_not_tagged(settings):
    """Many links through a click tracker to the shop's own site, recipient in the unsubscribe link."""
    rcpt = "hanako@tokai-keiki.example"
    links = "".join(
        f'<a href="https://click.news-esp.test/ls/click?upn={i}&u='
        + quote(f"https://www.outdoor-shop.test/p/{i}", safe="")
        + f'">Item {i}</a><img src="https://storage.googleapis.com/shop-assets/{i}.jpg">' for i in range(40))
    html = (links + '<a href="https://www.outdoor-shop.test/unsubscribe?email=' + quote(rcpt, safe="")
            + '">Unsubscribe</a><a href="https://bit.ly/3shopfb">Facebook</a>')
    raw = make_message(from_="Outdoor Shop <news@outdoor-shop.test>", to=rcpt, subject="Autumn sale", html=html)
    verdict = Scanner(settings).scan(raw).verdict
    assert verdict.action.value == "deliver", verdict.as_dict()
