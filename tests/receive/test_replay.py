"""receive/replay.py: the notes a killed gateway leaves for its restart (next hop's answer, resent transactions)."""

from __future__ import annotations

import json

from kakuri.model.envelope import Direction, Envelope
from kakuri.receive.replay import SENT_IN_FULL, ReplyNotes, Resends, noted_results
from kakuri.store.messages import RecipientStatus


def envelope(*rcpts: str, mail_from: str = "a@partner.example") -> Envelope:
    return Envelope(mail_from=mail_from, rcpt_tos=rcpts or ("bob@example.org",), direction=Direction.INBOUND)


def test_a_note_gives_only_answers_newer_than_the_recorded_attempts(tmp_path):
    notes = ReplyNotes(tmp_path / "replies")
    sent = (RecipientStatus.DELIVERED, SENT_IN_FULL, None)
    deferred = (RecipientStatus.DEFERRED, "451 try later", None)
    notes.write("q1", results={"bob@example.org": sent, "eve@example.org": deferred},
                attempts={"bob@example.org": 2, "eve@example.org": 1}, verdict={"action": "deliver"}, headers={})
    note = notes.read("q1")
    assert note["verdict"] == {"action": "deliver"}
    # bob's second attempt is not recorded yet; eve's first one is.
    assert noted_results(note, {"bob@example.org": 1, "eve@example.org": 1}) == {"bob@example.org": sent}
    assert noted_results(note, {"bob@example.org": 2, "eve@example.org": 1}) == {}
    assert set(noted_results(note, {})) == {"bob@example.org", "eve@example.org"}
    notes.remove("q1")
    assert notes.read("q1") is None and not list((tmp_path / "replies").iterdir())


def test_an_unreadable_note_means_deliver_again(tmp_path):
    notes = ReplyNotes(tmp_path)
    (tmp_path / "q2.json").write_text("{half")
    assert notes.read("q2") is None


def test_resends_match_the_same_envelope_and_bytes_across_restarts_only(tmp_path):
    path = tmp_path / "resends.json"
    raw = b"Received: from x by mx (Postfix) with ESMTP id 4ABC\r\nSubject: s\r\n\r\nbody\r\n"
    first = Resends(path)
    first.first_id(envelope(), raw)  # nothing left behind: nothing is hashed or written
    first.load_and_add([])
    assert not path.exists()
    first.load_and_add([("q1", envelope(), raw)])
    assert first.first_id(envelope(), raw) == "q1"
    assert first.first_id(envelope("carol@example.org"), raw) is None
    assert first.first_id(envelope(mail_from="b@partner.example"), raw) is None
    assert first.first_id(envelope(), raw.replace(b"4ABC", b"4ABD")) is None  # Postfix's next queue file
    later = Resends(path)  # a second restart: the entry was finished meanwhile, the digest is kept
    later.load_and_add([])
    assert later.first_id(envelope(), raw) == "q1"
    kept = json.loads(path.read_text())
    [(_, stamp)] = kept.values()
    path.write_text(json.dumps({d: (q, stamp - 2 * 24 * 3600) for d, (q, stamp) in kept.items()}))
    old = Resends(path)
    old.load_and_add([])  # older than a day: Postfix has long retried or given up
    assert old.first_id(envelope(), raw) is None
