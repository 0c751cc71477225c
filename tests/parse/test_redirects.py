"""Redirect targets written inside a URL are read without fetching anything."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from kakuri.parse.redirects import redirect_targets
from kakuri.parse.urls import make_url


def targets(url: str) -> list[str]:
    return [t.host for t in redirect_targets(make_url(url, "a"))]


@pytest.mark.parametrize("url, host", [
    ("https://www.google.test/url?sa=t&q=https://lure.example/login", "lure.example"),
    ("https://click.esp.test/c?u=" + quote("https://shop.example/sale?x=1", safe=""), "shop.example"),
    ("https://tracker.test/r?redirect=//lure.example/p", "lure.example"),
    ("https://tracker.test/r?to=www.lure.example/p", "www.lure.example"),
    ("http://mail.relay.test//jump/http://www.conference.example", "www.conference.example"),
    ("https://news.test/amp/s/lure.example/page", "lure.example"),
    ("https://www.google.test/amp/lure.example/STZBcW5", "lure.example"),
    ("https://click.esp.test/track/click/3047/www.shop.example?p=eyJ", "www.shop.example"),
    ("https://urldefense.test/v2/url?u=https-3A__lure.example_login&d=x", "lure.example"),
    ("https://urldefense.test/v3/__https://lure.example/login__;!!abc", "lure.example"),
    ("https://www.search.test/ck/a?!&&p=1&u=a1" + base64.b64encode(b"https://lure.example/x").decode().rstrip("="),
     "lure.example"),
    ("https://landing.test/#" + quote("https://lure.example/", safe=""), "lure.example"),
])
def test_target_written_inside_the_url_is_found(url, host):
    assert host in targets(url)


def test_nested_redirects_are_followed_outermost_first():
    inner = "https://www.google.test/url?q=" + quote("https://lure.example/a", safe="")
    outer = "https://nam.safelinks.test/?url=" + quote(inner, safe="") + "&data=x"
    assert targets(outer) == ["www.google.test", "lure.example"]


@pytest.mark.parametrize("url", [
    "https://shop.example/search?q=red+shoes",  # a search word, not a URL
    "https://bit.ly/3xYzAbc",  # only the shortener's server knows
    "https://shop.example/a?next=/account/orders",  # a relative path on the same site
    "https://shop.example/a?id=aGVsbG8gd29ybGQ",  # base64 of something that is not a URL
    "https://news.example/amp/story-2024.html",  # an AMP page of the site itself
])
def test_urls_without_a_written_target_have_none(url):
    assert targets(url) == []
