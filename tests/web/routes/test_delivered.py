"""Console: the incident page lists mail delivered before we knew; clawback and undo from the console,
against a real Dovecot (the copies are delivered to it over LMTP)."""

from __future__ import annotations

import os
import smtplib
from datetime import UTC, datetime, timedelta

import pytest

from kakuri.respond.retroscan import RetroPool, retro_scan
from kakuri.settings import load_settings
from kakuri.store.config import open_stores
from kakuri.store.indicators import Indicator
from kakuri.store.retention import Retention, RetentionConfig
from kakuri.web.app import create_app
from tests.builders import make_message
from tests.respond.dovecot_server import DOVECOT, PrivateDovecot
from tests.respond.test_retroscan import retain
from tests.web.factories import add_users, logged_in, quick_argon2

pytestmark = pytest.mark.skipif(not os.path.exists(DOVECOT), reason="needs Debian's dovecot-imapd (scripts/install-system.sh)")
USER = "hanako@corp.example"


@pytest.fixture
def dovecot():
    server = PrivateDovecot({USER: "hanako-pw"}).start()
    yield server
    server.stop()


def test_incident_page_lists_delivered_mail_and_claws_it_back_and_undoes(tmp_path, dovecot):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "kakuri.toml").write_text(f"""
[clawback.imap]
port = {dovecot.imap_port}
security = "none"
master_user = "{dovecot.master[0]}"
master_password = "{dovecot.master[1]}"
""")
    settings = load_settings(home)
    raw = make_message(subject="Payment <b>advice</b>", body="see https://pay.evil.example/x\n", to=USER,
                       message_id="<pay-1@evil.example>")
    with smtplib.LMTP("127.0.0.1", dovecot.lmtp_port) as lmtp:
        lmtp.sendmail("a@evil.example", [USER], raw)
    with quick_argon2():
        stores = open_stores(settings)
        add_users(stores)
    try:
        retain(stores, Retention(RetentionConfig(), home), raw, queue_id="q-pay", rcpts=(USER,),
               subject="Payment <b>advice</b>")
        with stores.sessions() as session:
            session.add(Indicator(kind="domain", value="evil.example", source="test"))
            session.commit()
        run = retro_scan(settings, stores, since=datetime.now(UTC) - timedelta(days=1), actor="test",
                         pool=RetroPool(home, workers=0))
        assert [f.queue_id for f in run.findings] == ["q-pay"]
        app = create_app(settings, stores=stores)

        viewer, _ = logged_in(app, "viewer")
        page = viewer.get(f"/incidents/{run.incident_id}")
        assert "Delivered before we knew" in page.text and "q-pay" in page.text
        assert "Payment &lt;b&gt;advice&lt;/b&gt;" in page.text  # the subject is text, never markup
        assert 'id="clawback-form"' not in page.text  # viewers see, analysts act

        analyst, csrf = logged_in(app, "analyst")
        assert 'id="clawback-form"' in analyst.get(f"/incidents/{run.incident_id}").text
        moved = analyst.post(f"/api/v1/incidents/{run.incident_id}/clawback", json={"reason": "phishing"},
                             headers={"X-CSRF-Token": csrf})
        assert moved.status_code == 200, moved.text
        assert [(r["recipient"], r["outcome"], r["folder"]) for r in moved.json()] == [(USER, "moved", "INBOX")]
        assert dovecot.message_ids(USER) == [] and dovecot.message_ids(USER, "Quarantine") == ["pay-1@evil.example"]
        copies = analyst.get(f"/api/v1/incidents/{run.incident_id}/delivered").json()[0]["copies"]
        assert copies[0]["clawback"] == "moved"
        report = analyst.get(f"/incidents/{run.incident_id}/report?format=md").text
        assert "Delivered before we knew (1)" in report and f"{USER}: moved" in report

        back = analyst.post(f"/incidents/{run.incident_id}/clawback", data={"reason": "false alarm", "undo": "1",
                                                                          "csrf_token": csrf}, follow_redirects=False)
        assert back.status_code == 303 and "restored" in back.headers["location"]
        assert dovecot.message_ids(USER) == ["pay-1@evil.example"]
    finally:
        stores.close()
