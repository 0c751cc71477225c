from datetime import UTC, datetime, timedelta
from email import message_from_bytes

import pytest

from kakuri.model import Direction, Envelope
from kakuri.receive.spool import Spool
from kakuri.respond.emergency import EmergencySwitch, ModeKind, enable_mode
from kakuri.respond.incidents import get_incident, link, open_incident
from kakuri.respond.outbox import SpoolWarningSender
from kakuri.respond.release import (
    ReleaseError, ReleaseFilter, bounce_matching, is_kept_only_by_emergency, release_matching, select_messages,
)
from kakuri.respond.warnings import delivery_status, send_warnings
from kakuri.store.messages import Message
from kakuri.wiring import build_scanner
from tests.builders import make_message
from tests.builders_archive import encrypted_zip, zip_of
from tests.respond.test_incidents import CONFIG
from tests.web.factories import store_message

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def spool(tmp_path):
    return Spool(tmp_path / "spool")


def _held(stores, **kwargs):
    return store_message(stores, action="hold", direction="outbound", symbols=(), **kwargs)


def test_filter_by_sender_recipient_time_symbol_and_incident(stores):
    a = _held(stores, mail_from="taro@tokai-keiki.example", rcpts=("kondo@partner.example",), received_at=T0)
    b = _held(stores, mail_from="jiro@tokai-keiki.example", rcpts=("sato@other.example",), received_at=T0 + timedelta(hours=1))
    q = store_message(stores, symbols=("ATTACHMENT_ARCHIVE",), received_at=T0)
    with stores.sessions() as session:
        ids = lambda flt: [m.queue_id for m in select_messages(session, flt)]  # noqa: E731
        assert ids(ReleaseFilter(sender="TARO@")) == [a]
        assert ids(ReleaseFilter(recipient="@other.example")) == [b]
        assert ids(ReleaseFilter(recipient="kondo@partner.example")) == [a]
        assert ids(ReleaseFilter(since=T0 + timedelta(minutes=30))) == [b]
        assert ids(ReleaseFilter(states=("quarantined",), symbol="attachment_archive")) == [q]
        assert ids(ReleaseFilter(states=("held", "quarantined"), everything=True)) == [a, q, b]
        incident = open_incident(session, title="x", actor="t")
        link(session, incident.id, kind="account", value="jiro@tokai-keiki.example", actor="t")
        assert ids(ReleaseFilter(incident_id=incident.id)) == [b]
        with pytest.raises(ReleaseError):
            select_messages(session, ReleaseFilter(states=("delivered",), everything=True))


def test_release_needs_a_reason_and_a_narrowed_selection(stores, spool):
    _held(stores)
    with pytest.raises(ReleaseError, match="reason"):
        release_matching(stores, spool, ReleaseFilter(everything=True), actor="t", reason="")
    with pytest.raises(ReleaseError, match="narrow"):
        release_matching(stores, spool, ReleaseFilter(), actor="t", reason="all clear")


def test_bulk_release_audits_each_message_writes_spool_entries_and_notes_the_incident(stores, spool):
    first, second = _held(stores, mail_from="taro@tokai-keiki.example"), _held(stores, mail_from="taro@tokai-keiki.example")
    with stores.sessions() as session:
        incident = open_incident(session, title="x", actor="t")
        link(session, incident.id, kind="account", value="taro@tokai-keiki.example", actor="t")
        session.commit()
        incident_id = incident.id
    woken = []
    result = release_matching(stores, spool, ReleaseFilter(incident_id=incident_id), actor="cli:alice",
                              reason="all clear", on_done=woken.append)
    assert result.done == [first, second] == woken and not result.failed
    assert spool.exists(first) and spool.exists(second)
    with stores.sessions() as session:
        message = session.get(Message, first)
        assert message.state == "released"
        assert [(e.actor, e.event, e.reason) for e in message.audit][-1] == ("cli:alice", "released", "bulk: all clear")
        assert "2 message(s) released in bulk" in get_incident(session, incident_id).events[-1].text
    again = release_matching(stores, spool, ReleaseFilter(incident_id=incident_id), actor="t", reason="again")
    assert again.done == []  # released ones are no longer held: running it twice changes nothing


def test_bounce_returns_held_mail_with_a_dsn_through_the_spool(stores, spool):
    queue_id = _held(stores, mail_from="jiro@tokai-keiki.example", rcpts=("sato@other.example",))
    quarantined = store_message(stores, mail_from="x@evil.example")
    result = bounce_matching(stores, spool, ReleaseFilter(everything=True), actor="t", reason="spam run", hostname="gw.example")
    assert result.done == [queue_id]
    with stores.sessions() as session:
        assert session.get(Message, queue_id).state == "bounced"
        assert session.get(Message, quarantined).state == "quarantined"
    dsn = spool.read(f"{queue_id}-dsn")
    assert dsn.origin == "dsn" and dsn.envelope.mail_from == "" and dsn.envelope.rcpt_tos == ("jiro@tokai-keiki.example",)
    report = message_from_bytes(dsn.raw)
    assert report.get_content_type() == "multipart/report" and b"sato@other.example" in dsn.raw
    with pytest.raises(ReleaseError):
        bounce_matching(stores, spool, ReleaseFilter(states=("quarantined",), everything=True), actor="t", reason="x y z", hostname="h")


def test_warning_spool_entry_is_pre_decided_outbound_and_named_as_a_warning(stores, spool):
    with stores.sessions() as session:
        incident = open_incident(session, title="x", actor="t")
        link(session, incident.id, kind="contact", value="kondo@partner.example", actor="t")
        session.commit()
        sender = SpoolWarningSender(spool, incident_ref=f"INC-{incident.id}")
        counts = send_warnings(session, incident.id, config=CONFIG, sender=sender, our_domains=["tokai-keiki.example"],
                               actor="t", sleep=lambda s: None)
        assert counts["sent"] == 1
        (queue_id,) = spool.queue_ids()
        entry = spool.read(queue_id)
        assert entry.origin == "warning" and entry.envelope.direction.value == "outbound"
        assert entry.verdict["action"] == "deliver" and entry.verdict["reasons"] == [f"warning for INC-{incident.id}"]
        assert entry.verdict["headers"]["subject"].startswith("【重要】")  # decoded for the trace
        # Not yet recorded by a gateway: the warning's own status shows.
        assert delivery_status(session, incident.id) == {"kondo@partner.example": "sent"}


def test_emergency_only_tells_the_lockdowns_catch_from_mail_quarantined_on_its_own_score(settings, stores):
    with stores.sessions() as session:
        enable_mode(session, kind=ModeKind.ARCHIVES, actor="t")
        session.commit()
    scanner, switch, env = build_scanner(settings), EmergencySwitch(stores.sessions, ttl_seconds=0), Envelope(direction=Direction.INBOUND)
    harmless = make_message(attachments=[("catalogue.zip", zip_of({"catalogue.pdf": b"%PDF-1.4\n%%EOF\n"}), "application/zip")])
    hostile = make_message(body="パスワード: ab12", attachments=[
        ("invoice.zip", encrypted_zip({"invoice.js": b'WScript.CreateObject("WScript.Shell").Run("calc")'}, password="ab12"),
         "application/zip")])
    kept = [scanner.scan(raw, env, switch.overrides()).verdict for raw in (harmless, hostile)]
    assert [v.action.value for v in kept] == ["quarantine", "quarantine"]
    assert [is_kept_only_by_emergency(list(v.reasons)) for v in kept] == [True, False]
    assert not is_kept_only_by_emergency([])
