"""PPAP in the gateway: an encrypted archive is held until its password mail arrives, then judged."""

from __future__ import annotations

import asyncio
import shutil
from email.header import decode_header, make_header

import pytest

from kakuri.receive.ppap import WAIT_OVERRIDE, is_ppap_hold
from kakuri.receive.server import Gateway
from kakuri.store.messages import MessageState, RecipientStatus
from kakuri.store.trace import search as trace_search, trace_rows
from tests.builders import make_message
from tests.builders_archive import encrypted_zip, rar5_encrypted
from tests.builders_office import doc_with_vba
from tests.receive.conftest import gateway_settings, message_state, wait_until
from tests.receive.test_smtp_handler import send

DROPPER = (
    'Sub AutoOpen()\n  Set s = CreateObject("WScript.Shell")\n  s.Run "powershell -w hidden -enc SQBFAFgA"\nEnd Sub\n'
)
PARTNER = "Taro Yamada <taro@partner.example>"


@pytest.fixture
async def ppap_gateway(tmp_path, sink):
    started = []

    async def start(**ppap):
        settings = gateway_settings(
            tmp_path / "kakuri-data", next_hop=f"127.0.0.1:{sink.port}", org={"our_domains": ["tokai-keiki.example"]}
        )
        settings.__pydantic_extra__["ppap"] = {"check_seconds": 0.2, **ppap}
        gateway = Gateway(settings)
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()


def archive_mail(files: dict[str, bytes], password: str, *, message_id: str) -> bytes:
    return make_message(
        from_=PARTNER,
        subject="見積書の送付",
        body="お世話になっております。\n見積書をお送りします。\nパスワードは別途お送りします。\n",
        attachments=[("見積書.zip", encrypted_zip(files, password), "application/zip")],
        message_id=message_id,
    )


def password_mail(password: str, *, replying_to: str) -> bytes:
    return make_message(
        from_=PARTNER,
        subject="Re: 見積書の送付",
        body=f"先ほどのファイルのパスワードです。\nパスワード：{password}\n",
        headers={"In-Reply-To": replying_to, "References": replying_to},
        message_id=f"<pw-{replying_to.strip('<>')}>",
    )


def subject(delivered) -> str:
    return str(make_header(decode_header(delivered.message["Subject"])))


def state_is(gateway, queue_id, state):
    return lambda: (m := message_state(gateway, queue_id)) and m.state == state and m


async def test_zipped_macro_doc_and_its_password_mail_are_both_quarantined_and_linked(ppap_gateway, sink):
    gateway = await ppap_gateway(hold_seconds=60)
    macro_zip = {"見積書.doc": doc_with_vba({"NewMacros": DROPPER})}
    zip_id = await send(gateway, archive_mail(macro_zip, "Kx82Lq", message_id="<quote-77@partner.example>"))
    held = await wait_until(state_is(gateway, zip_id, MessageState.HELD))
    assert held.recipients[0].status == RecipientStatus.HELD
    assert await wait_until(
        lambda: any(e.reason == "waiting for archive password" for e in message_state(gateway, zip_id).audit)
    )

    pw_id = await send(gateway, password_mail("Kx82Lq", replying_to="<quote-77@partner.example>"))
    kept = await wait_until(state_is(gateway, zip_id, MessageState.QUARANTINED), timeout=15)
    assert "ARCHIVE_ENCRYPTED" in kept.symbols and "ARCHIVE_ENCRYPTED_UNOPENED" not in kept.symbols
    assert "MACRO_AUTOEXEC" in kept.symbols  # the contents were scanned
    assert kept.recipients[0].status == RecipientStatus.QUARANTINED
    assert any(e.actor == "ppap" and "pw-quote-77@partner.example" in e.reason and e.detail == {"related": pw_id}
               for e in kept.audit)
    pw = await wait_until(lambda: (m := message_state(gateway, pw_id)) and any(e.actor == "ppap" for e in m.audit) and m)
    assert pw.state == MessageState.QUARANTINED and pw.recipients[0].status == RecipientStatus.QUARANTINED
    assert any(r.startswith(f"ppap: states the password of held message {zip_id}") for r in pw.reasons)
    assert any(e.event == "quarantined" and e.detail == {"related": zip_id} for e in pw.audit)
    assert pw.blob_sha256 and gateway.stores.blobs.get(pw.blob_sha256)  # kept for review
    with gateway.stores.sessions() as session:  # `kakuri trace` names the other half
        rows = trace_rows(trace_search(session, message_id="quote-77@partner.example"))
        assert [row["related"] for row in rows] == [[pw_id]]
    await asyncio.sleep(0.5)
    assert sink.received == []  # neither half reached the mailbox


async def test_benign_archive_is_released_after_its_password_mail(ppap_gateway, sink):
    gateway = await ppap_gateway(hold_seconds=60)
    quote = {"見積書.txt": "御見積金額 120,000円".encode()}
    zip_id = await send(gateway, archive_mail(quote, "Ab12cd", message_id="<quote-78@partner.example>"))
    await wait_until(state_is(gateway, zip_id, MessageState.HELD))
    assert sink.received == []

    pw_id = await send(gateway, password_mail("Ab12cd", replying_to="<quote-78@partner.example>"))
    await wait_until(lambda: len(sink.received) == 2, timeout=15)
    assert sorted(sink.message_ids()) == ["<pw-quote-78@partner.example>", "<quote-78@partner.example>"]
    archive = next(d for d in sink.received if d.message["Message-ID"] == "<quote-78@partner.example>")
    assert subject(archive) == "見積書の送付"  # opened and clean: no tag
    assert archive.message["X-Kakuri-Verdict"].startswith("deliver;")
    record = await wait_until(state_is(gateway, zip_id, MessageState.DELIVERED))
    assert "ARCHIVE_ENCRYPTED" in record.symbols
    assert any(e.event == "released" and e.actor == "ppap" and "pw-quote-78" in e.reason
               and e.detail == {"related": pw_id} for e in record.audit)
    assert (await wait_until(state_is(gateway, pw_id, MessageState.DELIVERED))).action == "deliver"


async def test_archive_without_password_mail_is_delivered_tagged_after_the_hold(ppap_gateway, sink):
    gateway = await ppap_gateway(hold_seconds=1.0)
    zip_id = await send(gateway, archive_mail({"a.txt": b"hello"}, "Zz9911", message_id="<quote-79@partner.example>"))
    await wait_until(state_is(gateway, zip_id, MessageState.HELD))
    await asyncio.sleep(0.5)
    assert sink.received == []  # still waiting
    await wait_until(lambda: sink.received, timeout=10)
    assert subject(sink.received[0]).startswith("[SUSPICIOUS]")
    record = await wait_until(state_is(gateway, zip_id, MessageState.DELIVERED))
    assert record.action == "tag" and "ARCHIVE_ENCRYPTED_UNOPENED" in record.symbols
    assert any(e.event == "released" and e.reason == "no password within 1 s" for e in record.audit)


async def test_archive_without_password_mail_can_be_quarantined_after_the_hold(ppap_gateway, sink):
    gateway = await ppap_gateway(hold_seconds=0.5, on_timeout="quarantine")
    zip_id = await send(gateway, archive_mail({"a.txt": b"hello"}, "Zz9912", message_id="<quote-80@partner.example>"))
    kept = await wait_until(state_is(gateway, zip_id, MessageState.QUARANTINED), timeout=10)
    assert any(e.actor == "ppap" and e.reason == "no password within 0.5 s" for e in kept.audit)
    assert sink.received == []


async def test_hold_seconds_zero_delivers_unopenable_archives_at_once(ppap_gateway, sink):
    gateway = await ppap_gateway(hold_seconds=0)
    zip_id = await send(gateway, archive_mail({"a.txt": b"hello"}, "Zz9913", message_id="<quote-81@partner.example>"))
    record = await wait_until(state_is(gateway, zip_id, MessageState.DELIVERED))
    assert "ARCHIVE_ENCRYPTED_UNOPENED" in record.symbols and record.action == "deliver"
    assert not any(o.name == WAIT_OVERRIDE for o in gateway.settings.policy.overrides)
    assert len(sink.received) == 1


def test_an_emergency_hold_is_not_mistaken_for_a_ppap_hold():
    ours = f"override {WAIT_OVERRIDE}: hold"
    assert is_ppap_hold({"action": "hold", "reasons": ["score 3 < 5", ours]})
    assert not is_ppap_hold({"action": "hold", "reasons": [ours, "override emergency.hold_sender: hold"]})
    assert not is_ppap_hold({"action": "quarantine", "reasons": [ours, "override x: quarantine"]})


async def test_a_hold_left_by_a_previous_run_is_still_opened_by_its_password_mail(ppap_gateway, sink):
    from sqlalchemy import delete

    from kakuri.store.knowledge_tables import PendingArchiveRow

    first = await ppap_gateway(hold_seconds=60)
    zip_id = await send(first, archive_mail({"a.txt": b"hello"}, "Qw7788", message_id="<quote-82@partner.example>"))
    await wait_until(lambda: (m := message_state(first, zip_id)) and any(e.actor == "ppap" for e in m.audit))
    with first.stores.sessions.begin() as session:  # as if it crashed before registering the hold
        session.execute(delete(PendingArchiveRow))
    await first.stop()

    second = await ppap_gateway(hold_seconds=60)
    await asyncio.sleep(0.5)  # a tick adopts the held message
    await send(second, password_mail("Qw7788", replying_to="<quote-82@partner.example>"))
    await wait_until(lambda: len(sink.received) == 2, timeout=15)
    assert "<quote-82@partner.example>" in sink.message_ids()
    # The next hop's 250 comes first; our record of it follows in the next group commit.
    await wait_until(lambda: message_state(second, zip_id).state == MessageState.DELIVERED)


async def test_a_password_mail_whose_password_does_not_open_the_archive_is_delivered(ppap_gateway, sink):
    gateway = await ppap_gateway(hold_seconds=60)
    macro_zip = {"見積書.doc": doc_with_vba({"NewMacros": DROPPER})}
    zip_id = await send(gateway, archive_mail(macro_zip, "Kx82Lr", message_id="<quote-83@partner.example>"))
    await wait_until(state_is(gateway, zip_id, MessageState.HELD))
    await wait_until(lambda: any(e.actor == "ppap" for e in message_state(gateway, zip_id).audit))
    pw_id = await send(gateway, password_mail("Wrong-99", replying_to="<quote-83@partner.example>"))
    await wait_until(lambda: sink.received, timeout=15)
    assert sink.message_ids() == ["<pw-quote-83@partner.example>"]
    assert (await wait_until(state_is(gateway, pw_id, MessageState.DELIVERED))).action == "deliver"
    assert message_state(gateway, zip_id).state == MessageState.HELD  # still waiting for the right one


@pytest.mark.skipif(shutil.which("unar") is None, reason="needs Debian's unar (scripts/install-system.sh)")
async def test_encrypted_rar_is_opened_by_the_thread_password_and_both_mails_are_quarantined(ppap_gateway, sink):
    gateway = await ppap_gateway(hold_seconds=60)
    # a .doc by name (a .vbs member name alone would quarantine it unopened)
    locked = rar5_encrypted({"見積書.doc": doc_with_vba({"NewMacros": DROPPER})}, "Rq55Tz")
    raw = make_message(from_=PARTNER, subject="見積書の送付", body="見積書をお送りします。パスワードは別途お送りします。\n",
                       attachments=[("見積書.rar", locked, "application/x-rar")], message_id="<quote-90@partner.example>")
    rar_id = await send(gateway, raw)
    await wait_until(lambda: (m := message_state(gateway, rar_id)) and any(e.actor == "ppap" for e in m.audit))
    pw_id = await send(gateway, password_mail("Rq55Tz", replying_to="<quote-90@partner.example>"))
    kept = await wait_until(state_is(gateway, rar_id, MessageState.QUARANTINED), timeout=15)
    assert "ARCHIVE_ENCRYPTED" in kept.symbols and "ARCHIVE_ENCRYPTED_UNOPENED" not in kept.symbols
    assert "MACRO_AUTOEXEC" in kept.symbols  # the document inside was read
    assert (await wait_until(state_is(gateway, pw_id, MessageState.QUARANTINED))).action == "quarantine"
    await asyncio.sleep(0.3)
    assert sink.received == []


async def test_a_password_mail_sent_right_behind_its_archive_still_waits_for_it(ppap_gateway, sink):
    gateway = await ppap_gateway(hold_seconds=60)
    macro_zip = {"見積書.doc": doc_with_vba({"NewMacros": DROPPER})}
    zip_id = await send(gateway, archive_mail(macro_zip, "Pp44Rs", message_id="<quote-91@partner.example>"))
    pw_id = await send(gateway, password_mail("Pp44Rs", replying_to="<quote-91@partner.example>"))  # no pause
    await wait_until(state_is(gateway, zip_id, MessageState.QUARANTINED), timeout=15)
    assert (await wait_until(state_is(gateway, pw_id, MessageState.QUARANTINED))).action == "quarantine"
    await asyncio.sleep(0.3)
    assert sink.received == []


async def test_a_password_mail_delivered_before_its_malicious_archive_is_linked_to_it(ppap_gateway, sink):
    gateway = await ppap_gateway(hold_seconds=60)
    pw_id = await send(gateway, password_mail("Ee61Ww", replying_to="<quote-92@partner.example>"))
    await wait_until(lambda: sink.received, timeout=15)  # nothing held yet: it is delivered
    macro_zip = {"見積書.doc": doc_with_vba({"NewMacros": DROPPER})}
    zip_id = await send(gateway, archive_mail(macro_zip, "Ee61Ww", message_id="<quote-92@partner.example>"))
    kept = await wait_until(state_is(gateway, zip_id, MessageState.QUARANTINED), timeout=15)
    assert "MACRO_AUTOEXEC" in kept.symbols
    linked = await wait_until(lambda: [e for e in message_state(gateway, zip_id).audit if e.event == "linked"])
    assert linked[0].detail == {"related": pw_id} and "delivered before it" in linked[0].reason
    pw = message_state(gateway, pw_id)
    assert pw.state == MessageState.DELIVERED
    assert any(e.event == "linked" and e.detail == {"related": zip_id} for e in pw.audit)
