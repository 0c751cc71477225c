"""Incident and emergency pages in real headless Chromium, against the live gateway and a real next hop.

An analyst switches the outbound hold on with one click, opens an incident, uploads hunt results,
previews and sends the warnings (which reach the next hop despite the hold) and downloads the report;
an admin switches the hold off. Run with `-m browser`; skipped where /usr/bin/chromium is missing.
"""

from __future__ import annotations

import json
from email.header import decode_header, make_header
import smtplib
import time

import pytest
from sqlalchemy import select

from kakuri.store import accounts
from kakuri.store.messages import Message
from tests.builders import make_message
from tests.receive.conftest import gateway_settings
from tests.web.factories import PASSWORD
from tests.web.live import LiveConsole
from tests.web.test_browser import CHROMIUM, browser, sink  # noqa: F401 (module-scoped fixtures shared)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install-system.sh)"),
]
OURS = "tokai-keiki.example"
HUNT = [{"account": f"taro@{OURS}", "verdict": "infected", "score": 8.0, "evidence": ["burst of replies"],
         "notify": ["kondo@partner.example", "sato@other.example"]},
        {"host": "10.20.1.5", "verdict": "infected", "score": 9.0, "evidence": ["beacon"], "notify": []}]


@pytest.fixture(scope="module")
def live(tmp_path_factory, sink):
    settings = gateway_settings(tmp_path_factory.mktemp("ir") / "kakuri-data", next_hop=f"127.0.0.1:{sink.port}",
                                org={"our_domains": [OURS], "internal_networks": ["127.0.0.0/8"]})
    settings.__pydantic_extra__["respond"] = {"warning": {
        "from_address": f"security@{OURS}", "organisation_ja": "東海計器株式会社", "organisation_en": "Tokai Keiki",
        "rate_per_minute": 0}}
    console = LiveConsole(settings).start()
    with console.gateway.stores.sessions.begin() as db:
        accounts.add_user(db, name="analyst", role="analyst", password=PASSWORD)
        accounts.add_user(db, name="admin", role="admin", password=PASSWORD)
    yield console
    console.stop()


def _page(browser, live, user: str, next_: str):
    context = browser.new_context(accept_downloads=True, timezone_id="Asia/Tokyo", locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())  # the console asks once more before danger buttons
    page.goto(f"{live.url}/login?next={next_}")
    page.fill("input[name=name]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}{next_}")
    return page


def _wait(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _subjects(sink) -> list[str]:
    return [str(make_header(decode_header(d.message.get("Subject", "")))) for d in sink.received]


def _state(live, subject: str) -> str | None:
    with live.gateway.stores.sessions() as db:
        return db.scalar(select(Message.state).where(Message.subject == subject))


def test_outbreak_handled_from_the_console(browser, live, sink, tmp_path):
    page = _page(browser, live, "analyst", "/emergency")
    assert "No emergency policy in force." in page.inner_text("#in-force")
    page.fill("input[form=on-hold_outbound][name=reason]", "Emotet: stop outbound spread")
    page.click("form#on-hold_outbound button")
    page.wait_for_selector("#done")
    assert "hold_outbound ON" in page.inner_text("#done")
    assert "Emotet: stop outbound spread" in page.inner_text("#mode-hold_outbound")
    assert page.locator("#mode-hold_outbound form").count() == 0  # switching off is for admins

    time.sleep(2.3)  # every gateway worker re-reads the switches within 2 s
    with smtplib.SMTP(*live.smtp_address, timeout=30) as smtp:
        smtp.sendmail(f"taro@{OURS}", ["kondo@partner.example"],
                      make_message(subject="RE: お見積り (held)", from_=f"taro@{OURS}", to="kondo@partner.example"))
    _wait(lambda: _state(live, "RE: お見積り (held)") == "held")

    page.click("header nav >> text=Incidents")
    page.fill("#open-incident input[name=title]", "Emotet: hijacked replies from taro")
    page.click("#open-incident button")
    page.wait_for_selector("h1 >> text=INC-")
    hunt = tmp_path / "hunt.json"
    hunt.write_text(json.dumps(HUNT), encoding="utf-8")
    page.set_input_files("#hunt-form input[type=file]", str(hunt))
    page.click("#hunt-form button")
    page.wait_for_selector("#done")
    assert "1 host(s), 1 account(s), 2 contact(s)" in page.inner_text("#done")
    assert "10.20.1.5" in page.inner_text("#links")

    page.click("#preview-form button")
    preview = page.inner_text("#warning-preview")
    assert "【重要】" in preview and "東海計器株式会社" in preview and "Tokai Keiki" in preview
    assert not [d for d in sink.received if d.rcpt_tos == ["sato@other.example"]]  # a preview sends nothing
    page.click("#warn-form button")
    page.wait_for_selector("#done")
    assert "2 warning(s)" in page.inner_text("#done")
    _wait(lambda: {r for d in sink.received for r in d.rcpt_tos} >= {"kondo@partner.example", "sato@other.example"})
    assert _state(live, "RE: お見積り (held)") == "held"  # the hold stays on for everything else
    _wait(lambda: page.reload() or page.inner_text("#warnings").count("delivered") == 2)

    release = page.locator("#release-form")  # all clear for this incident's accounts, while the hold stays on
    release.locator("input[name=reason]").fill("taro's PC re-imaged")
    release.locator("button").click()
    page.wait_for_selector("#done")
    assert "1 held message(s) released" in page.inner_text("#done")
    _wait(lambda: "RE: お見積り (held)" in _subjects(sink))
    assert _state(live, "RE: お見積り (held)") == "released"

    with page.expect_download() as download:
        page.click("#report-md")
    report = download.value.path().read_text(encoding="utf-8")
    assert "Emotet: hijacked replies from taro" in report and "2 warnings sent" in report
    assert "10.20.1.5" in report and f"taro@{OURS}" in report

    admin = _page(browser, live, "admin", "/emergency")
    row = admin.locator("#mode-hold_outbound")
    row.locator("input[name=reason]").fill("PCs cleaned")
    row.locator("button").click()
    admin.wait_for_selector("#done")
    assert "No emergency policy in force." in admin.inner_text("#in-force")
    page.context.close()
    admin.context.close()
