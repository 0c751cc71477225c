"""URL extraction from text and HTML bodies."""

from __future__ import annotations

import pytest

from kakuri.parse.mime import parse_message
from kakuri.parse.urls import MAX_URLS, extract_html_urls, extract_text_urls, message_urls
from tests.builders import make_message


def urls_of(text: str) -> list[str]:
    return [u.url for u in extract_text_urls(text)]


def test_full_width_punctuation_and_japanese_text_end_a_url():
    text = "資料はhttps://files.example/a/b?x=1。ご確認ください（https://x.example/p）、詳細はhttps://y.example/をご覧ください"
    assert urls_of(text) == ["https://files.example/a/b?x=1", "https://x.example/p", "https://y.example/"]


def test_japanese_file_name_with_ascii_extension_is_kept():
    assert urls_of("https://dl.example/wp-includes/js/請求書.zip\n") == ["https://dl.example/wp-includes/js/請求書.zip"]
    assert extract_text_urls("https://dl.example/js/請求書.zip")[0].path == "/js/請求書.zip"


def test_angle_bracket_wrappers_and_trailing_punctuation_are_removed():
    text = "See <https://a.example/x>, then (https://b.example/y). Also https://c.example/wiki/A_(b)."
    assert urls_of(text) == ["https://a.example/x", "https://b.example/y", "https://c.example/wiki/A_(b)"]


def test_quoted_printable_leftovers_are_repaired():
    assert urls_of("https://a.example/very/long/pa=\nth?id=3D42 end") == ["https://a.example/very/long/path?id=42"]


def test_host_port_and_userinfo_are_parsed():
    (url,) = extract_text_urls("http://tokai-keiki.example@198.51.100.7:8080/INVOICE/x.doc")
    assert (url.host, url.port, url.userinfo) == ("198.51.100.7", 8080, "tokai-keiki.example")
    assert url.path == "/INVOICE/x.doc"


def test_www_without_scheme_is_a_url_and_bad_ports_do_not_crash():
    urls = extract_text_urls("www.example.org and http://x.example:99999/ and http://[::1/")
    assert urls[0].host == "www.example.org"
    assert urls[1].port is None


def test_html_links_keep_their_visible_text_and_source():
    html = ('<p>Hi <a href="https://dl.example/inv.zip">請求書を<b>ダウンロード</b></a>'
            '<img src="https://t.example/pixel.gif"><form action="https://f.example/post"></form>'
            '<meta http-equiv="refresh" content="0; URL=\'https://r.example/\'"> plain https://loose.example/z</p>')
    found = {(u.source, u.url, u.anchor) for u in extract_html_urls(html)}
    assert ("a", "https://dl.example/inv.zip", "請求書をダウンロード") in found
    assert ("img", "https://t.example/pixel.gif", "") in found
    assert ("form", "https://f.example/post", "") in found
    assert ("refresh", "https://r.example/", "") in found
    assert ("text", "https://loose.example/z", "") in found


def test_script_schemes_are_kept_and_relative_or_mail_links_dropped():
    urls = extract_html_urls('<a href="javascript:run()">x</a><a href="mailto:a@b.example">m</a><a href="/rel">r</a>')
    assert [(u.scheme, u.source) for u in urls] == [("javascript", "a")]


def test_message_urls_are_deduplicated_capped_and_computed_once():
    links = "".join(f'<a href="https://n.example/{i}">read</a>' for i in range(MAX_URLS + 50))
    message = parse_message(make_message(body="https://n.example/0\nhttps://n.example/0\n", html=links))
    first = message_urls(message)
    assert len(first) == MAX_URLS
    assert [u.url for u in first].count("https://n.example/0") == 2  # once as text, once as a link
    assert message_urls(message) is first


def test_broken_html_does_not_raise():
    assert extract_html_urls("<a href='https://x.example/'><<<</a <![CDATA[") is not None


@pytest.mark.timeout(20)
def test_pathological_html_is_read_in_linear_time():
    hostile = "<a href=x " * 100_000 + "<style" * 50_000 + "<" * 200_000 + "https://" + "a" * 100_000
    urls = extract_html_urls(hostile)
    assert len(urls) <= MAX_URLS + 1


def test_backslash_is_read_as_a_slash_like_browsers_do():
    (url,) = extract_html_urls('<a href="http://evil.test\\@good.test/">x</a>')
    assert url.host == "evil.test" and url.userinfo == ""
