"""Gateway records, quarantine service and trace: the same code on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kakuri.store import mailflow, quarantine, trace
from kakuri.store.config import open_stores
from kakuri.store.messages import Message, MessageState, RecipientStatus

QUARANTINE = {
    "action": "quarantine",
    "score": 12.0,
    "symbols": ["FILE_SCRIPT"],
    "reasons": ["score 12.0 >= quarantine 10"],
    "findings": [{"symbol": "FILE_SCRIPT", "detector": "file_types", "evidence": {"name": "a.js"}}],
}
DELIVER = {"action": "deliver", "score": 0.0, "symbols": [], "reasons": [], "findings": []}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request, settings):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    stores = open_stores(settings, url=url)
    yield stores
    stores.close()


def accept(
    stores,
    queue_id,
    verdict,
    *,
    raw=b"Subject: s\r\n\r\nb",
    sender="taro@partner.example",
    rcpts=("hanako@tokai-keiki.example",),
    subject="Invoice",
    when=None,
):
    blob = stores.blobs.put(raw) if verdict["action"] != "deliver" else None
    with stores.sessions() as session:
        return mailflow.record_accepted(
            session,
            queue_id=queue_id,
            mail_from=sender,
            rcpt_directions={r: "inbound" for r in rcpts},
            direction="inbound",
            received_at=when or datetime.now(UTC),
            size=len(raw),
            verdict=verdict,
            headers={"message_id": f"{queue_id}@partner.example", "subject": subject},
            blob_sha256=blob,
        )


def test_recording_the_same_message_twice_keeps_one_row(stores):
    accept(stores, "q1", QUARANTINE)
    again = accept(stores, "q1", DELIVER)  # a replay after a crash must not change the first decision
    assert again.action == "quarantine"
    with stores.sessions() as session:
        assert session.query(Message).count() == 1


def test_quarantine_list_show_release_is_audited(stores):
    accept(stores, "q1", QUARANTINE)
    accept(stores, "q2", DELIVER)
    with stores.sessions() as session:
        listed = quarantine.list_messages(session)
        assert [m.queue_id for m in listed] == ["q1"]
        assert listed[0].findings[0]["evidence"] == {"name": "a.js"}
        released = quarantine.release(session, queue_id="q1", actor="web:alice", reason="known sender")
        assert released.state == MessageState.RELEASED
        assert [r.status for r in released.recipients] == [RecipientStatus.PENDING]
    with stores.sessions() as session:
        message = quarantine.get_message(session, queue_id="q1")
        assert [(a.actor, a.event, a.reason) for a in message.audit][-1] == ("web:alice", "released", "known sender")
        with pytest.raises(quarantine.QuarantineError):
            quarantine.release(session, queue_id="q1", actor="web:alice")  # not twice


def test_delivery_after_release_keeps_the_released_state(stores):
    accept(stores, "q1", QUARANTINE)
    with stores.sessions() as session:
        quarantine.release(session, queue_id="q1", actor="cli:root")
        done = mailflow.record_attempt(
            session, queue_id="q1", results={"hanako@tokai-keiki.example": (RecipientStatus.DELIVERED, "250 ok", None)}
        )
    assert done.state == MessageState.RELEASED and done.finished_at is not None


def test_delete_drops_the_copy_but_keeps_record_and_audit(stores):
    message = accept(stores, "q1", QUARANTINE, raw=b"Subject: unique\r\n\r\nx")
    key = message.blob_sha256
    with stores.sessions() as session:
        quarantine.delete(session, queue_id="q1", actor="cli:root", reason="malware", blobs=stores.blobs)
    assert not stores.blobs.exists(key)
    with stores.sessions() as session:
        message = quarantine.get_message(session, queue_id="q1")
        assert message.state == MessageState.DELETED and message.audit[-1].event == "deleted"
        with pytest.raises(quarantine.QuarantineError):
            quarantine.raw_message(stores.blobs, message)


def test_attempts_only_move_waiting_recipients(stores):
    accept(stores, "q1", DELIVER, rcpts=("a@tokai-keiki.example", "b@tokai-keiki.example"))
    later = datetime.now(UTC) + timedelta(minutes=5)
    with stores.sessions() as session:
        mailflow.record_attempt(
            session,
            queue_id="q1",
            results={
                "a@tokai-keiki.example": (RecipientStatus.DELIVERED, "250 ok", None),
                "b@tokai-keiki.example": (RecipientStatus.DEFERRED, "451 busy", later),
            },
        )
        replay = mailflow.record_attempt(
            session,
            queue_id="q1",
            results={
                "a@tokai-keiki.example": (RecipientStatus.BOUNCED, "550 late", None),
            },
        )
        assert {r.address: r.status for r in replay.recipients} == {
            "a@tokai-keiki.example": "delivered",
            "b@tokai-keiki.example": "deferred",
        }
        assert replay.state == MessageState.QUEUED
        assert [m.queue_id for m in mailflow.messages_waiting(session)] == ["q1"]


def test_trace_finds_by_sender_recipient_subject_message_id_and_time(stores):
    now = datetime.now(UTC)
    accept(
        stores, "old", DELIVER, sender="kondo@marunaka.example", subject="見積書 (quote)", when=now - timedelta(days=3)
    )
    accept(stores, "new", QUARANTINE, rcpts=("osamu@tokai-keiki.example",), subject="Invoice 100%")
    with stores.sessions() as session:

        def ids(**kw):
            return [m.queue_id for m in trace.search(session, **kw)]

        assert ids(sender="MARUNAKA") == ["old"]
        assert ids(recipient="osamu@") == ["new"]
        assert ids(subject="見積") == ["old"]
        assert ids(subject="100%") == ["new"]
        assert ids(subject="_") == []  # LIKE wildcards are literal
        assert ids(message_id="<new@partner.example>") == ["new"]
        assert ids(since=now - timedelta(days=1)) == ["new"]
        assert ids(until=now - timedelta(days=1)) == ["old"]
        rows = list(trace.trace_rows(trace.search(session, state="quarantined")))
    assert rows[0]["message_id"] == "new@partner.example" and rows[0]["rcpt_to"] == "osamu@tokai-keiki.example"
    assert rows[0]["action"] == "quarantine" and rows[0]["state"] == "quarantined" and rows[0]["received_at"]
