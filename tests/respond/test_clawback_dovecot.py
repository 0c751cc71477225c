"""End to end against a real Dovecot: delivered through kakuri (LMTP), found later by a STIX indicator,
clawed back over IMAP into the quarantine folder, and put back by undo."""

from __future__ import annotations

import asyncio
import os
import smtplib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stix2
from sqlalchemy import select
from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.store.config import open_stores
from kakuri.store.incidents import IncidentEvent
from kakuri.store.messages import AuditEvent, Message
from kakuri.store.retention import ClawbackRecord, RetainedMessage, RetroFinding
from tests.builders import make_message
from tests.receive.conftest import gateway_settings, wait_until
from tests.respond.dovecot_server import DOVECOT, PrivateDovecot

pytestmark = pytest.mark.skipif(not os.path.exists(DOVECOT), reason="needs Debian's dovecot-imapd (scripts/install-system.sh)")

ALICE, BOB = "alice@corp.example", "bob@corp.example"


@pytest.fixture
def dovecot():
    server = PrivateDovecot({ALICE: "alice-pw", BOB: "bob-pw"}).start()
    yield server
    server.stop()


def _config(home: Path, dovecot: PrivateDovecot) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "kakuri.toml").write_text(f"""
[org]
our_domains = ["corp.example"]

[clawback]
folder = "Quarantine"

[clawback.imap]
host = "127.0.0.1"
port = {dovecot.imap_port}
security = "none"
master_user = "{dovecot.master[0]}"
master_password = "{dovecot.master[1]}"
""")


def _payload() -> bytes:
    # A file nobody knew yet: no technique any detector recognises, so it is delivered today.
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" + os.urandom(64).hex().encode()


async def test_stix_indicator_retro_scan_claws_back_over_imap_and_undo_restores(tmp_path, dovecot):
    home = tmp_path / "kakuri-data"
    _config(home, dovecot)
    from kakuri.receive.server import Gateway

    gateway = Gateway(gateway_settings(home, next_hop=f"lmtp:127.0.0.1:{dovecot.lmtp_port}"))
    await gateway.start()
    payload = _payload()
    bad = make_message(subject="Invoice 2211", from_="Billing <billing@supplier.example>", to=f"{ALICE}, {BOB}",
                       attachments=[("invoice.pdf", payload, "application/pdf")], message_id="<inv-2211@supplier.example>")
    good = make_message(subject="Lunch", from_="Kenji <kenji@friend.example>", to=ALICE, message_id="<lunch@friend.example>")
    try:
        host, port = gateway.address

        def send():  # in a thread: the gateway serves on this test's event loop
            with smtplib.SMTP(host, port) as client:
                client.sendmail("billing@supplier.example", [ALICE, BOB], bad)
                client.sendmail("kenji@friend.example", [ALICE], good)

        await asyncio.to_thread(send)

        def delivered():
            with gateway.stores.sessions() as session:
                rows = session.scalars(select(Message)).all()
                retained = session.scalars(select(RetainedMessage)).all()
                return len(rows) == 2 and all(m.state == "delivered" for m in rows) and len(retained) == 2
        await wait_until(delivered, timeout=30)
    finally:
        await gateway.stop()
    assert sorted(dovecot.message_ids(ALICE)) == ["inv-2211@supplier.example", "lunch@friend.example"]
    assert dovecot.message_ids(BOB) == ["inv-2211@supplier.example"]

    # Bob deleted it himself meanwhile: the clawback must say so, not fail.
    bob = dovecot.login(BOB)
    bob.select("INBOX")
    bob.store("1", "+FLAGS", "\\Deleted")
    bob.expunge()
    bob.logout()

    # Weeks later a CSIRT shares the file's hash as STIX 2.1.
    import hashlib

    digest = hashlib.sha256(payload).hexdigest()
    indicator = stix2.Indicator(pattern=f"[file:hashes.'SHA-256' = '{digest}']", pattern_type="stix",
                                valid_from=datetime.now(UTC), name="Emotet loader, new variant")
    bundle = tmp_path / "csirt.json"
    bundle.write_text(stix2.Bundle(objects=[indicator]).serialize())
    runner = CliRunner()
    result = runner.invoke(app, ["--home", str(home), "incident", "open", "Emotet new variant"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["--home", str(home), "iocs", "import", str(bundle), "--incident", "1", "--since", "1d"])
    assert result.exit_code == 0, result.output
    assert "1 new finding" in result.output

    stores = open_stores(gateway.settings)
    try:
        with stores.sessions() as session:
            bad_row = session.scalars(select(Message).where(Message.message_id == "inv-2211@supplier.example")).one()
            finding = session.scalars(select(RetroFinding)).one()
            assert finding.queue_id == bad_row.queue_id and finding.incident_id == 1
            assert sorted(finding.recipients) == [ALICE, BOB]
            assert any(digest in m for m in finding.matched)

        result = runner.invoke(app, ["--home", str(home), "clawback", "--incident", "1", "--dry-run", "-r", "check"])
        assert result.exit_code == 0, result.output
        assert "would_move" in result.output
        assert "inv-2211@supplier.example" in dovecot.message_ids(ALICE)  # a dry run changes nothing

        result = runner.invoke(app, ["--home", str(home), "clawback", "--incident", "1", "-r", "Emotet variant"])
        assert result.exit_code == 0, result.output
        assert dovecot.message_ids(ALICE) == ["lunch@friend.example"]  # the user's own login sees it gone
        assert dovecot.message_ids(ALICE, "Quarantine") == ["inv-2211@supplier.example"]
        with stores.sessions() as session:
            outcomes = {r.recipient: r.result for r in session.scalars(
                select(ClawbackRecord).where(ClawbackRecord.dry_run.is_(False)))}
            assert outcomes == {ALICE: "moved", BOB: "not_found"}
            audit = session.scalars(select(AuditEvent).where(AuditEvent.queue_id == bad_row.queue_id,
                                                             AuditEvent.event == "clawback")).all()
            assert {(a.detail["recipient"], a.detail["outcome"]) for a in audit} == {(ALICE, "moved"), (BOB, "not_found")}
            kinds = [e.kind for e in session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == 1))]
            assert "detection" in kinds and "clawback" in kinds

        result = runner.invoke(app, ["--home", str(home), "clawback", bad_row.queue_id, "--undo", "-r", "false alarm"])
        assert result.exit_code == 0, result.output
        assert "restored" in result.output
        assert sorted(dovecot.message_ids(ALICE)) == ["inv-2211@supplier.example", "lunch@friend.example"]
        assert dovecot.message_ids(ALICE, "Quarantine") == []
        with stores.sessions() as session:
            kinds = [e.kind for e in session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == 1))]
            assert "clawback-undo" in kinds
    finally:
        stores.close()


def test_clawback_reports_unreachable_mailbox_server(tmp_path):
    from kakuri.respond.clawback import Outcome
    from kakuri.respond.clawback.imap import ImapConfig, ImapConnector
    from tests.respond.dovecot_server import free_port

    connector = ImapConnector(ImapConfig(port=free_port(), security="none", master_user="x", master_password="y"),
                              quarantine_folder="Quarantine")
    result = connector.remove(ALICE, "m@x.example", delete=False, dry_run=False)
    assert result.outcome is Outcome.UNREACHABLE and "cannot connect" in result.detail


def test_wrong_master_password_is_unreachable_not_a_crash(dovecot):
    from kakuri.respond.clawback import Outcome
    from kakuri.respond.clawback.imap import ImapConfig, ImapConnector

    connector = ImapConnector(ImapConfig(port=dovecot.imap_port, security="none", master_user="kakuri",
                                         master_password="wrong"), quarantine_folder="Quarantine")
    result = connector.remove(ALICE, "m@x.example", delete=False, dry_run=False)
    assert result.outcome is Outcome.UNREACHABLE and "refused" in result.detail


def test_delete_policy_and_per_mailbox_credentials_expunge_only_that_message(tmp_path, dovecot):
    import smtplib as _smtplib

    from kakuri.respond.clawback import Outcome
    from kakuri.respond.clawback.imap import ImapConfig, ImapConnector

    with _smtplib.LMTP("127.0.0.1", dovecot.lmtp_port) as lmtp:
        lmtp.sendmail("x@evil.example", [ALICE], make_message(to=ALICE, message_id="<bad@evil.example>"))
        lmtp.sendmail("y@friend.example", [ALICE], make_message(to=ALICE, message_id="<keep@friend.example>"))
    # The user filed the bad one: it is found in any folder, not only the INBOX.
    client = dovecot.login(ALICE)
    client.create("Archive")
    client.select("INBOX")
    _, found = client.search(None, "HEADER", "Message-ID", "<bad@evil.example>")
    client.copy(found[0], "Archive")
    client.store(found[0], "+FLAGS", "\\Deleted")
    client.expunge()
    client.logout()
    (tmp_path / "mailboxes.csv").write_text(f"{ALICE},{ALICE},alice-pw\n")  # no master user on this server
    connector = ImapConnector(ImapConfig(port=dovecot.imap_port, security="none", credentials_file="mailboxes.csv"),
                              quarantine_folder="Quarantine", home=tmp_path)
    result = connector.remove(ALICE, "bad@evil.example", delete=True, dry_run=False)
    assert (result.outcome, result.folder, result.count) == (Outcome.DELETED, "Archive", 1)
    assert dovecot.message_ids(ALICE, "Archive") == []
    assert dovecot.message_ids(ALICE) == ["keep@friend.example"]
    assert connector.remove(BOB, "bad@evil.example", delete=True, dry_run=False).outcome is Outcome.UNREACHABLE


def test_starttls_verifies_the_server_and_refuses_an_unknown_certificate(tmp_path):
    import smtplib as _smtplib

    from kakuri.respond.clawback import Outcome
    from kakuri.respond.clawback.imap import ImapConfig, ImapConnector

    server = PrivateDovecot({ALICE: "alice-pw"}, tls=True).start()
    try:
        with _smtplib.LMTP("127.0.0.1", server.lmtp_port) as lmtp:
            lmtp.sendmail("x@evil.example", [ALICE], make_message(to=ALICE, message_id="<tls@evil.example>"))
        config = dict(host="localhost", port=server.imap_port, security="starttls", master_user="kakuri",
                      master_password=server.master[1])
        pinned = ImapConnector(ImapConfig(**config, ca_file=str(server.cert)), quarantine_folder="Quarantine")
        assert pinned.remove(ALICE, "tls@evil.example", delete=False, dry_run=True).outcome is Outcome.WOULD_MOVE
        untrusted = ImapConnector(ImapConfig(**config), quarantine_folder="Quarantine")  # system CAs only
        result = untrusted.remove(ALICE, "tls@evil.example", delete=False, dry_run=True)
        assert result.outcome is Outcome.UNREACHABLE and "CERTIFICATE_VERIFY_FAILED" in result.detail
    finally:
        server.stop()
