"""Delivery to the next hop: retries on 4xx and timeouts, DSN on 5xx, one status per recipient."""

from __future__ import annotations

import aiosmtplib

from kakuri.store.messages import MessageState, RecipientStatus
from tests.builders import make_message
from tests.receive.conftest import message_state, wait_until


async def send(gateway, raw, *, mail_from="taro@partner.example", rcpts=("hanako@tokai-keiki.example",)):
    _, reply = await aiosmtplib.send(
        raw, sender=mail_from, recipients=list(rcpts), hostname=gateway.address[0], port=gateway.address[1]
    )
    return reply.split("queued as ")[-1].strip()


async def test_temporary_failure_is_retried_until_delivered(start_gateway, sink):
    sink.temp_failures = 2
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    queue_id = await send(gateway, make_message(), rcpts=["temp.kato@tokai-keiki.example"])
    record = await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "delivered" and m)
    assert record.recipients[0].attempts == 3
    assert len(sink.received) == 1
    assert [a.event for a in record.audit] == ["received", "deferred", "deferred", "delivered"]


async def test_permanent_failure_bounces_to_the_sender_with_a_dsn(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    raw = make_message(subject="Quote", message_id="<quote-7@partner.example>")
    queue_id = await send(gateway, raw, mail_from="taro@partner.example", rcpts=["perm.nobody@tokai-keiki.example"])
    dsn = (await wait_until(lambda: sink.received))[0]
    assert dsn.mail_from in ("", "<>") and dsn.rcpt_tos == ["taro@partner.example"]
    report = dsn.message
    assert report.get_content_type() == "multipart/report"
    status = report.get_payload()[1].as_string()
    assert "Final-Recipient: rfc822; perm.nobody@tokai-keiki.example" in status and "Status: 5.1.1" in status
    assert "quote-7@partner.example" in report.get_payload()[2].as_string()  # original header, not the body
    record = message_state(gateway, queue_id)
    assert record.state == MessageState.BOUNCED
    assert record.recipients[0].last_reply.startswith("550")
    dsn_record = await wait_until(
        lambda: (m := message_state(gateway, f"{queue_id}-dsn")) and m.state == "delivered" and m
    )
    assert dsn_record.origin == "dsn"


async def test_null_sender_mail_is_never_bounced(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    client = aiosmtplib.SMTP(hostname=gateway.address[0], port=gateway.address[1])
    await client.connect()
    await client.mail("")  # MAIL FROM:<>
    await client.rcpt("perm.x@tokai-keiki.example")
    queue_id = (await client.data(make_message())).message.split("queued as ")[-1]
    await client.quit()
    await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "bounced")
    assert message_state(gateway, f"{queue_id}-dsn") is None and sink.received == []


async def test_each_recipient_gets_its_own_status(start_gateway, sink):
    sink.temp_failures = 1
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}")
    rcpts = ["ok@tokai-keiki.example", "perm.gone@tokai-keiki.example", "temp.busy@tokai-keiki.example"]
    queue_id = await send(gateway, make_message(), rcpts=rcpts)
    record = await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.finished_at and m)
    status = {r.address: r.status for r in record.recipients}
    assert status == {
        "ok@tokai-keiki.example": RecipientStatus.DELIVERED,
        "perm.gone@tokai-keiki.example": RecipientStatus.BOUNCED,
        "temp.busy@tokai-keiki.example": RecipientStatus.DELIVERED,
    }
    assert record.state == MessageState.DELIVERED
    to_people = [d for d in sink.received if d.mail_from not in ("", "<>")]
    assert sorted(r for d in to_people for r in d.rcpt_tos) == [
        "ok@tokai-keiki.example",
        "temp.busy@tokai-keiki.example",
    ]


async def test_unreachable_next_hop_defers_and_keeps_the_message(start_gateway):
    gateway = await start_gateway(next_hop="127.0.0.1:9", delivery={"retry_schedule_seconds": [60]})
    queue_id = await send(gateway, make_message())
    record = await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.recipients[0].attempts and m)
    rcpt = record.recipients[0]
    assert rcpt.status == RecipientStatus.DEFERRED and rcpt.next_attempt_at is not None
    assert "ConnectionRefused" in rcpt.last_reply or "Connect" in rcpt.last_reply
    assert gateway.spool.queue_ids() == [queue_id]


async def test_temporary_failures_past_max_age_become_a_bounce(start_gateway, sink):
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}", delivery={"max_age_seconds": 0})
    queue_id = await send(gateway, make_message(), rcpts=["temp.forever@tokai-keiki.example"])
    record = await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "bounced" and m)
    assert record.recipients[0].last_reply.startswith("gave up after 1 attempts")
    await wait_until(lambda: sink.received)  # the DSN


async def test_tag_verdict_prefixes_the_subject_once(start_gateway, sink, tmp_path):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "policy.toml").write_text('[[overrides]]\nname = "tag-all"\nwhen = "*"\naction = "tag"\n')
    gateway = await start_gateway(next_hop=f"127.0.0.1:{sink.port}", home=home)
    await send(gateway, make_message(subject="Quarterly numbers"))
    delivered = (await wait_until(lambda: sink.received))[0].message
    assert delivered["X-Kakuri-Verdict"].startswith("tag;")
    assert delivered["Subject"] == "[SUSPICIOUS] Quarterly numbers"
