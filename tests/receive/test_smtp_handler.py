"""Real SMTP conversations on loopback: benign mail reaches the next hop, malicious mail is kept."""

from __future__ import annotations

import asyncio
import smtplib

import aiosmtplib
import pytest

from kakuri.store.messages import MessageState, RecipientStatus
from tests.builders import make_message
from tests.builders_archive import zip_of
from tests.receive.conftest import message_state, wait_until

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def script_in_zip() -> bytes:
    script = b'var s = new ActiveXObject("WScript.Shell"); s.Run("powershell -enc AAAA");'
    return make_message(
        subject="Invoice", attachments=[("invoice.zip", zip_of({"invoice.js": script}), "application/zip")]
    )


async def send(gateway, raw: bytes, *, mail_from="taro@partner.example", rcpts=("hanako@tokai-keiki.example",)):
    host, port = gateway.address
    _, reply = await aiosmtplib.send(raw, sender=mail_from, recipients=list(rcpts), hostname=host, port=port)
    return reply.split("queued as ")[-1].strip()


async def test_benign_mail_reaches_the_next_hop_with_our_headers(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    raw = make_message(subject="Meeting minutes", message_id="<minutes-1@partner.example>")
    queue_id = await send(gateway, raw)
    await wait_until(lambda: sink.received)
    delivered = sink.received[0]
    assert delivered.rcpt_tos == ["hanako@tokai-keiki.example"]
    assert delivered.message["X-Kakuri-Verdict"].startswith("deliver;")
    assert queue_id in delivered.message["Received"]
    assert delivered.data.endswith(raw.split(b"\r\n\r\n", 1)[1])  # body untouched, byte for byte
    record = await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "delivered" and m)
    assert record.message_id == "minutes-1@partner.example"
    assert record.recipients[0].status == RecipientStatus.DELIVERED
    assert not gateway.spool.queue_ids()


async def test_outside_x_kakuri_headers_are_removed(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    await send(gateway, make_message(headers={"X-Kakuri-Verdict": "deliver; score=0.00"}))
    await wait_until(lambda: sink.received)
    assert len(sink.received[0].message.get_all("X-Kakuri-Verdict")) == 1
    assert "id=" in sink.received[0].message["X-Kakuri-Verdict"]


async def test_malicious_mail_is_quarantined_and_not_delivered(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    raw = script_in_zip()
    queue_id = await send(gateway, raw)
    record = await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "quarantined" and m)
    assert "FILE_SCRIPT" in record.symbols
    assert any(f["symbol"] == "FILE_SCRIPT" and f["evidence"] for f in record.findings)
    assert gateway.stores.blobs.get(record.blob_sha256) == raw  # the copy kept is exactly what was sent
    await asyncio.sleep(0.3)
    assert sink.received == []
    assert not gateway.spool.queue_ids()


async def test_release_delivers_a_quarantined_message_once_and_audits_it(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    raw = script_in_zip()
    queue_id = await send(gateway, raw)
    await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "quarantined")
    await gateway.release(queue_id=queue_id, actor="cli:alice", reason="confirmed with sender by phone")
    await wait_until(lambda: sink.received)
    record = await wait_until(
        lambda: (m := message_state(gateway, queue_id)) and not m.recipients[0].status == "pending" and m
    )
    assert record.state == MessageState.RELEASED
    assert record.recipients[0].status == RecipientStatus.DELIVERED
    assert sink.received[0].message["X-Kakuri-Verdict"].startswith("released quarantine")
    assert sink.received[0].data.endswith(raw.split(b"\r\n\r\n", 1)[1])
    released = [a for a in record.audit if a.event == "released"]
    assert released[0].actor == "cli:alice" and "phone" in released[0].reason
    await asyncio.sleep(0.5)  # the orphan check and the spool poll must not deliver it again
    assert len(sink.received) == 1


async def test_reject_verdict_is_refused_with_550_and_recorded(start_gateway, sink, tmp_path):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "policy.toml").write_text('[[overrides]]\nname = "reject-eicar"\nwhen = "IOC_EICAR"\naction = "reject"\n')
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}", home=home)
    raw = make_message(attachments=[("eicar.com", EICAR)], message_id="<eicar-1@bad.example>")
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(gateway, raw)
    assert refused.value.code == 550 and "reject-eicar" in refused.value.message
    from kakuri.store import trace

    with gateway.stores.sessions() as session:
        (record,) = trace.search(session, message_id="eicar-1@bad.example")
    assert record.state == MessageState.REJECTED
    assert not gateway.spool.queue_ids() and sink.received == []


async def test_relaying_to_outside_domains_is_denied_for_outside_clients(start_gateway, sink):
    gateway = await start_gateway(
        next_hop=f"127.0.0.1:{sink.port}", org={"our_domains": ["tokai-keiki.example"], "internal_networks": []}
    )
    host, port = gateway.address
    client = aiosmtplib.SMTP(hostname=host, port=port)
    await client.connect()
    await client.mail("x@outside.example")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as denied:
        await client.rcpt("victim@elsewhere.example")
    assert denied.value.code == 554
    assert (await client.rcpt("hanako@tokai-keiki.example")).code == 250
    await client.quit()


async def test_too_many_recipients_get_452(start_gateway):
    gateway = await start_gateway(smtp={"max_recipients": 2})
    client = aiosmtplib.SMTP(hostname=gateway.address[0], port=gateway.address[1])
    await client.connect()
    await client.mail("a@partner.example")
    await client.rcpt("r1@tokai-keiki.example")
    await client.rcpt("r2@tokai-keiki.example")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
        await client.rcpt("r3@tokai-keiki.example")
    assert refused.value.code == 452
    await client.quit()


async def test_full_spool_answers_451_and_recovers(start_gateway):
    # The next hop is down, so the first message stays in the spool and fills it.
    gateway = await start_gateway(next_hop="127.0.0.1:9", spool={"max_bytes": 1000})
    await send(gateway, make_message(body="x" * 2000))
    with pytest.raises(aiosmtplib.SMTPResponseException) as busy:
        await send(gateway, make_message())
    assert busy.value.code == 451
    for queue_id in gateway.spool.queue_ids():
        gateway.spool.remove(queue_id)
    assert await send(gateway, make_message())


async def test_oversized_message_gets_552(start_gateway):
    gateway = await start_gateway(smtp={"max_message_bytes": 10_000})
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await send(gateway, make_message(body="y" * 20_000))
    assert refused.value.code == 552


async def test_maildir_next_hop_stores_delivered_mail(start_gateway, tmp_path):
    gateway = await start_gateway(next_hop="maildir")
    await send(gateway, make_message(subject="into the maildir"))
    new = tmp_path / "kakuri-data" / "maildir" / "new"
    files = await wait_until(lambda: list(new.iterdir()))
    assert b"Subject: into the maildir" in files[0].read_bytes()


def test_smtplib_client_sees_queue_id(tmp_path):
    # A plain synchronous client against a gateway running in its own loop (what the README shows).
    import threading

    from kakuri.receive.server import Gateway
    from tests.receive.conftest import gateway_settings

    settings = gateway_settings(tmp_path / "home", next_hop="maildir")
    gateway = Gateway(settings)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(gateway.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        with smtplib.SMTP(*gateway.address) as client:
            code, reply = client.ehlo()
            assert code == 250 and b"SIZE" in reply
            assert client.sendmail("a@example.com", ["b@example.org"], make_message()) == {}
    finally:
        asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


async def test_slow_scan_is_accepted_first_and_a_late_reject_is_quarantined(start_gateway, sink, tmp_path):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "policy.toml").write_text('[[overrides]]\nname = "reject-eicar"\nwhen = "IOC_EICAR"\naction = "reject"\n')
    gateway = await start_gateway(
        next_hop=f"127.0.0.1:{sink.port}", home=home, smtp={"scan_inline_timeout_seconds": 0.0}
    )
    good = await send(gateway, make_message(subject="slow but fine"))
    bad = await send(gateway, make_message(attachments=[("eicar.com", EICAR)]))  # 250: too late to refuse
    await wait_until(lambda: (m := message_state(gateway, good)) and m.state == "delivered")
    record = await wait_until(lambda: (m := message_state(gateway, bad)) and m.state == "quarantined" and m)
    assert record.action == "reject" and "IOC_EICAR" in record.symbols
    assert len(sink.received) == 1 and not gateway.queue.inflight_scans


async def test_message_that_breaks_the_scanner_is_accepted_and_quarantined(start_gateway, sink, monkeypatch):
    import kakuri.receive.delivery as delivery
    from kakuri.receive.scanning import _Worker

    real_scan = _Worker.scan

    def scan(self, raw, envelope):
        if b"POISON" in raw:
            raise RecursionError("parser blew up")
        return real_scan(self, raw, envelope)

    monkeypatch.setattr(_Worker, "scan", scan)
    monkeypatch.setattr(delivery, "SCAN_RETRY_SECONDS", 0.1)
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    queue_id = await send(gateway, make_message(body="POISON\n"))
    record = await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "quarantined" and m)
    assert record.reasons == ["scan failed: RecursionError"]
    assert gateway.stores.blobs.exists(record.blob_sha256)
    await send(gateway, make_message(subject="still scanning others"))
    await wait_until(lambda: sink.received)


async def test_one_connection_carries_many_messages(start_gateway, sink):
    # MTAs reuse connections: per-session command limits must not cut them off after a few hundred RCPTs.
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}", smtp={"max_recipients": 2})
    client = aiosmtplib.SMTP(hostname=gateway.address[0], port=gateway.address[1])
    await client.connect()
    raw = make_message()
    for _ in range(30):
        await client.sendmail("a@partner.example", ["b@tokai-keiki.example", "c@tokai-keiki.example"], raw)
    await client.quit()
    await wait_until(lambda: len(sink.received) == 30)
