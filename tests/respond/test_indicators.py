from kakuri.respond.indicators import indicators_of, indicators_of_messages, retro_search
from kakuri.store.messages import Message, Recipient
from tests.builders import make_message
from tests.builders_archive import encrypted_zip, zip_of

PAYLOAD = zip_of({"invoice.js": b"WScript.Shell"})
LURE = "Download: https://blog.bakery.test/wp-content/uploads/2020/09/INV_1.zip\n"


def _store(session, blobs, queue_id, raw, *, state, mail_from="x@attacker.test", rcpt="hanako@tokai-keiki.example"):
    row = Message(queue_id=queue_id, blob_sha256=blobs.put(raw), mail_from=mail_from, state=state, subject="Invoice", size=len(raw))
    row.recipients.append(Recipient(address=rcpt, status="delivered" if state == "delivered" else state))
    session.add(row)
    session.commit()


def test_indicators_cover_members_urls_senders_and_subject():
    raw = make_message(from_="Akemi <host34@attacker.test>", subject="RE: 見積", body=LURE,
                       headers={"Reply-To": "pay@evil.test"}, attachments=[("a.zip", PAYLOAD)])
    found = indicators_of(raw, "bounce@attacker.test")
    import hashlib

    assert hashlib.sha256(b"WScript.Shell").hexdigest() in found.hashes  # the member, not only the zip
    assert "https://blog.bakery.test/wp-content/uploads/2020/09/INV_1.zip" in found.urls
    assert found.senders == {"bounce@attacker.test", "host34@attacker.test", "pay@evil.test"}
    assert found.subjects == {"RE: 見積"}


def test_members_of_an_archive_opened_with_the_body_password_are_indicators():
    raw = make_message(body="パスワード：Kx82", attachments=[("a.zip", encrypted_zip({"x.js": b"evil()"}, "Kx82"))])
    import hashlib

    assert hashlib.sha256(b"evil()").hexdigest() in indicators_of(raw).hashes


def test_retro_search_finds_delivered_mail_with_the_same_payload_or_link(stores, session):
    _store(session, stores.blobs, "Q1", make_message(attachments=[("a.zip", PAYLOAD)]), state="quarantined")
    _store(session, stores.blobs, "D1", make_message(attachments=[("other-name.zip", PAYLOAD)]), state="delivered",
           mail_from="someone@else.test", rcpt="jiro@tokai-keiki.example")
    _store(session, stores.blobs, "D2", make_message(body="Hi " + LURE), state="delivered", mail_from="n@else.test")
    _store(session, stores.blobs, "D3", make_message(body="nothing here"), state="delivered", mail_from="n@else.test")
    _store(session, stores.blobs, "Q2", make_message(body=LURE), state="quarantined")

    found = indicators_of_messages(session, stores.blobs, ["Q1", "Q2"])
    matches = {m.queue_id: m for m in retro_search(session, stores.blobs, found)}
    assert set(matches) == {"D1", "D2"}  # quarantined ones never reached anyone; D3 shares nothing
    assert matches["D1"].recipients == ["jiro@tokai-keiki.example"]
    assert any(x.startswith("sha256:") for x in matches["D1"].matched)
    assert any(x.startswith("url:") for x in matches["D2"].matched)
