"""The console in real headless Chromium (Debian's), against the real gateway and a real next hop.

Run with `-m browser`; skipped where /usr/bin/chromium is missing (scripts/install-system.sh installs it).
"""

from __future__ import annotations

import smtplib
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller

from kakuri.store import accounts
from kakuri.store.messages import Message
from tests.builders import make_message
from tests.builders_archive import encrypted_zip
from tests.receive.conftest import RecordingSink, free_port, gateway_settings
from tests.web.factories import PASSWORD
from tests.web.live import LiveConsole

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
RECIPIENT = "hanako@tokai-keiki.example"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install-system.sh)"),
]


@pytest.fixture(scope="module")
def sink():
    handler = RecordingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory, sink):
    settings = gateway_settings(
        tmp_path_factory.mktemp("live") / "kakuri-data",
        next_hop=f"127.0.0.1:{sink.port}",
        org={"our_domains": ["tokai-keiki.example"], "internal_networks": []},
    )
    console = LiveConsole(settings).start()
    with console.gateway.stores.sessions.begin() as db:
        accounts.add_user(db, name="analyst", role="analyst", password=PASSWORD)
    yield console
    console.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live):
    context = browser.new_context(accept_downloads=True, timezone_id="Asia/Tokyo", locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _send(live: LiveConsole, raw: bytes) -> None:
    host, port = live.smtp_address
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        smtp.sendmail("billing@partner-invoices.example", [RECIPIENT], raw)


def _wait_for_state(live: LiveConsole, subject: str, state: str, timeout: float = 30.0) -> str:
    from sqlalchemy import select

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with live.gateway.stores.sessions() as db:
            row = db.scalars(select(Message).where(Message.subject == subject)).first()
            if row is not None and row.state == state:
                return row.queue_id
        time.sleep(0.1)
    raise AssertionError(f"{subject!r} never reached {state}")


def _log_in(page, live: LiveConsole, next_: str = "/quarantine") -> None:
    page.goto(f"{live.url}/login?next={next_}")
    page.fill("input[name=name]", "analyst")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}{next_}")


def test_analyst_finds_reads_and_releases_a_quarantined_message_which_reaches_the_next_hop(page, live, sink):
    zipped = encrypted_zip({"invoice.js": b'WScript.CreateObject("WScript.Shell").Run("powershell -enc AAAA")'},
                           password="ab12")
    subject = "請求書のご送付 (browser test)"
    message_id = "<browser-release@partner-invoices.example>"
    _send(live, make_message(subject=subject, body="添付ファイルのパスワード: ab12\n", to=RECIPIENT,
                             message_id=message_id, attachments=[("invoice.zip", zipped, "application/zip")]))
    queue_id = _wait_for_state(live, subject, "quarantined")

    _log_in(page, live)
    page.fill("input[name=recipient]", RECIPIENT)
    page.click("form#filters button[type=submit]")
    page.click(f"text={subject}")
    page.wait_for_url(f"{live.url}/quarantine/{queue_id}")

    verdict = page.inner_text("#verdict")
    assert "ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE" in verdict
    assert ">= quarantine" in verdict  # the reason the policy gave
    assert "invoice.js" in page.inner_text("#attachments")

    release = page.locator("#actions form[action$='/release']")
    release.locator("input[name=reason]").fill("confirmed with the sender by phone")
    release.locator("button").click()
    page.wait_for_selector("#done")
    assert "released" in page.inner_text("#done")

    deadline = time.monotonic() + 20
    while message_id not in sink.message_ids():
        assert time.monotonic() < deadline, "the released message never reached the next hop"
        time.sleep(0.1)
    delivered = sink.received[sink.message_ids().index(message_id)]
    assert delivered.rcpt_tos == [RECIPIENT]
    _wait_for_state(live, subject, "released")
    page.goto(f"{live.url}/audit?queue_id={queue_id}")
    assert "confirmed with the sender by phone" in page.inner_text("table.list")


def test_hostile_html_mail_runs_nothing_and_loads_nothing(page, live):
    html = """<html><head><base href="http://198.51.100.7/"><link rel=stylesheet href="http://198.51.100.7/x.css">
      <meta http-equiv="refresh" content="0;url=http://198.51.100.7/go"></head>
      <body onload="window.pwned='onload'"><p>Invoice overdue: pay today</p>
      <script>window.pwned='script'; fetch('http://198.51.100.7/beacon')</script>
      <img src="http://198.51.100.7/track.png" onerror="window.pwned='onerror'">
      <iframe src="http://198.51.100.7/frame"></iframe>
      <a href="javascript:window.pwned='link'">open</a>
      <svg onload="window.pwned='svg'"></svg></body></html>"""
    zipped = encrypted_zip({"invoice.js": b"WScript.Echo(1)"}, password="zz99")
    subject = "Overdue invoice (html test)"
    _send(live, make_message(subject=subject, body="see HTML", html=html, to=RECIPIENT,
                             attachments=[("invoice.zip", zipped, "application/zip")]))
    queue_id = _wait_for_state(live, subject, "quarantined")

    requests, console_messages, dialogs = [], [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: console_messages.append(message.text))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live.url) else route.abort())

    _log_in(page, live, f"/quarantine/{queue_id}")
    preview = page.inner_text("#preview")
    assert "Invoice overdue: pay today" in preview
    page.wait_for_timeout(500)  # time for anything that would fire late (onerror, refresh)

    assert page.evaluate("() => window.pwned") is None
    assert dialogs == [] and console_messages == []
    foreign = [url for url in requests if urlsplit(url).netloc != urlsplit(live.url).netloc]
    assert foreign == []
    assert page.locator("#preview img, #preview script, #preview iframe, #preview svg").count() == 0
    assert page.url == f"{live.url}/quarantine/{queue_id}"

    with page.expect_download() as download:
        page.click("#envelope a[download]")
    assert download.value.suggested_filename == f"{queue_id}.eml.bin"
    assert page.url == f"{live.url}/quarantine/{queue_id}"  # downloaded, not displayed


def test_api_docs_page_renders_swagger_ui_under_our_csp(page, live):
    blocked = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None)
    _log_in(page, live, "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "kakuri" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() >= 30  # every operation of the document
    assert blocked == []
