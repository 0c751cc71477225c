"""Feeds: abuse.ch formats, and scheduled refresh with conditional requests against a real HTTP server on loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from kakuri.respond.iocx.abusech import read_abusech
from kakuri.respond.iocx.feeds import FeedConfig, refresh_feeds
from kakuri.store.config import open_stores
from kakuri.store.indicators import FeedState, Indicator

URLHAUS = """################################################################
# abuse.ch URLhaus Database Dump (CSV - recent URLs)
#
# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
"3000001","2026-11-30 01:02:03","http://198.51.100.7/wp-content/x.php","online","2026-11-30 01:02:03","malware_download","emotet","https://urlhaus.abuse.ch/url/3000001/","someone"
"3000002","2026-11-30 01:05:00","https://dl.evil.example/inv.zip","offline","","malware_download","zip","https://urlhaus.abuse.ch/url/3000002/","someone"
"""
BAZAAR = """# MalwareBazaar recent additions
# "first_seen_utc","sha256_hash","md5_hash","sha1_hash","reporter","file_name","file_type_guess","mime_type","signature"
"2026-11-30 00:00:01", "%s", "%s", "%s", "x", "inv.xlsm", "xlsm", "application/vnd.ms-excel", "Heodo"
""" % ("b" * 64, "c" * 32, "d" * 40)
FEODO = """# Feodo Tracker: Botnet C2 IP Blocklist (CSV)
# "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"
"2026-11-29 10:00:00","203.0.113.9","8080","online","2026-11-30","Heodo"
"""


def test_abusech_csv_exports_and_plain_lists():
    assert {i.key for i in read_abusech(URLHAUS)} == {
        ("url", "http://198.51.100.7/wp-content/x.php"), ("url", "https://dl.evil.example/inv.zip")}
    assert {i.key for i in read_abusech(BAZAAR)} == {("sha256", "b" * 64), ("md5", "c" * 32), ("sha1", "d" * 40)}
    assert {i.key for i in read_abusech(FEODO)} == {("ip", "203.0.113.9")}
    plain = "# Feodo plain list\n192.0.2.44\nbad.example\nhttp://x.example/a.exe\n" + "E" * 64 + "\nnot a value\n"
    assert {i.key for i in read_abusech(plain)} == {("ip", "192.0.2.44"), ("domain", "bad.example"),
                                                   ("url", "http://x.example/a.exe"), ("sha256", "e" * 64)}


class _Feed:
    """What the server serves and how: body, validators, or a failure."""

    def __init__(self) -> None:
        self.body = URLHAUS.encode()
        self.etag = '"v1"'
        self.modified = "Mon, 30 Nov 2026 01:00:00 GMT"
        self.fail: int | None = None
        self.requests: list[dict] = []


@pytest.fixture
def feed_server():
    feed = _Feed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            feed.requests.append({k.lower(): v for k, v in self.headers.items()})
            if feed.fail:
                self.send_response(feed.fail)
                self.end_headers()
                return
            if self.headers.get("If-None-Match") == feed.etag or (
                    "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == feed.modified):
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", feed.etag)
            self.send_header("Last-Modified", feed.modified)
            self.send_header("Content-Length", str(len(feed.body)))
            self.end_headers()
            self.wfile.write(feed.body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    feed.url = f"http://127.0.0.1:{server.server_address[1]}/urlhaus.csv"
    yield feed
    server.shutdown()
    server.server_close()


def _values(stores) -> set[str]:
    with stores.sessions() as session:
        return set(session.scalars(select(Indicator.value).where(Indicator.source == "feed:urlhaus")))


def test_refresh_is_conditional_and_keeps_the_last_good_copy(settings, feed_server):
    stores = open_stores(settings)
    feeds = [FeedConfig(name="urlhaus", url=feed_server.url, refresh_minutes=60)]
    try:
        [first] = refresh_feeds(feeds, stores, settings.home)
        assert first.status == "updated" and first.indicators == 2
        assert (settings.home / "feeds" / "urlhaus.abusech").read_bytes() == feed_server.body

        [again] = refresh_feeds(feeds, stores, settings.home)
        assert again.status == "not_due" and len(feed_server.requests) == 1  # the schedule holds

        [same] = refresh_feeds(feeds, stores, settings.home, force=True)
        assert same.status == "unchanged"
        assert feed_server.requests[-1]["if-none-match"] == '"v1"'
        assert feed_server.requests[-1]["if-modified-since"] == "Mon, 30 Nov 2026 01:00:00 GMT"

        feed_server.fail = 503
        [down] = refresh_feeds(feeds, stores, settings.home, force=True)
        assert down.status == "failed" and "503" in down.detail
        assert len(_values(stores)) == 2  # the last good indicators stay in force
        assert (settings.home / "feeds" / "urlhaus.abusech").read_bytes() == feed_server.body

        feed_server.fail = None
        feed_server.body, feed_server.etag = b"<html>maintenance</html>", '"v2"'
        [garbage] = refresh_feeds(feeds, stores, settings.home, force=True)
        assert garbage.status == "failed" and len(_values(stores)) == 2
        with stores.sessions() as session:
            assert "no indicators" in session.get(FeedState, "urlhaus").last_error

        feed_server.body = FEODO.replace("# \"first_seen_utc\",\"dst_ip\"", "# \"first_seen_utc\",\"dst_ip\"").encode()
        feed_server.etag = '"v3"'
        [changed] = refresh_feeds(feeds, stores, settings.home, force=True)
        assert changed.status == "updated"
        assert _values(stores) == {"203.0.113.9"}  # the feed's old entries are replaced, not accumulated
        with stores.sessions() as session:
            state = session.get(FeedState, "urlhaus")
            assert state.etag == '"v3"' and state.last_error == ""
    finally:
        stores.close()
