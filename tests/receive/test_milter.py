"""The milter listener spoken to by an independent milter client (miltertest, the MTA side), over loopback.

The real-Postfix tests (tests/postfix) show the whole path; these pin the protocol details and every
verdict -> answer mapping with a real scanner, real stores and real sockets.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
from miltertest import MilterConnection
from miltertest import constants as c

from kakuri.receive.direction import DirectionRules
from kakuri.receive.milter.server import MilterConfig, MilterServer
from kakuri.receive.scanning import ScanPool
from kakuri.store.config import open_stores
from kakuri.store.messages import Message
from tests.builders import make_message
from tests.receive.conftest import gateway_settings
from tests.receive.test_smtp_handler import EICAR, script_in_zip

POLICY = """
[[overrides]]
name = "reject-eicar"
when = "IOC_EICAR"
action = "reject"
[[overrides]]
name = "tag-this-sender"
when = "*"
action = "tag"
senders = ["tagme@partner.example"]
"""
NO_REPLY = {
    c.SMFIC_CONNECT: c.SMFIP_NR_CONN, c.SMFIC_HELO: c.SMFIP_NR_HELO, c.SMFIC_MAIL: c.SMFIP_NR_MAIL,
    c.SMFIC_RCPT: c.SMFIP_NR_RCPT, c.SMFIC_HEADER: c.SMFIP_NR_HDR, c.SMFIC_EOH: c.SMFIP_NR_EOH,
    c.SMFIC_BODY: c.SMFIP_NR_BODY,
}


@pytest.fixture
async def milter(tmp_path):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "policy.toml").write_text(POLICY)
    settings = gateway_settings(home, next_hop="maildir")
    stores = await asyncio.to_thread(open_stores, settings)
    scans = await asyncio.to_thread(ScanPool, settings, workers=1, mode="thread")
    server = MilterServer(
        stores=stores,
        scans=scans,
        rules=DirectionRules(our_domains=["example.org"], internal_networks=["10.0.0.0/8"]),
        config=MilterConfig(listen="127.0.0.1:0"),
        max_message_bytes=300_000,
        subject_tag="[SUSPICIOUS]",
    )
    await server.start()
    yield server
    await server.stop()
    scans.close()
    stores.close()


class MTA:
    """The Postfix side of one milter conversation (blocking; tests run it in a thread)."""

    def __init__(self, port: int, protocol: int = c.SMFI_V6_PROT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.conn = MilterConnection(self.sock)
        self.actions, self.protocol = self.conn.optneg_mta(protocol=protocol)

    def event(self, cmd: str, **args) -> None:
        if self.protocol & NO_REPLY.get(cmd, 0):
            self.conn._send(cmd, **args)  # agreed: no answer comes back for this event
        else:
            self.conn.send(cmd, **args)  # must be answered with "continue"

    def message(self, raw: bytes, *, mail_from="taro@partner.example", rcpts=("bob@example.org",),
                client_ip="203.0.113.5") -> list[tuple[str, dict]]:
        self.event(c.SMFIC_CONNECT, hostname="mx.partner.example", family="4", port=4711, address=client_ip)
        self.event(c.SMFIC_HELO, helo="mx.partner.example")
        self.conn.send_macro(c.SMFIC_MAIL, **{"{mail_addr}": mail_from})
        self.event(c.SMFIC_MAIL, args=[f"<{mail_from}>", "SIZE=100"])
        for rcpt in rcpts:
            self.event(c.SMFIC_RCPT, args=[f"<{rcpt}>"])
        head, _, body = raw.decode().partition("\r\n\r\n")
        for line in head.replace("\r\n ", "\n ").replace("\r\n\t", "\n\t").split("\r\n"):
            name, _, value = line.partition(":")
            leading = value if self.protocol & c.SMFIP_HDR_LEADSPC else value.lstrip()
            self.event(c.SMFIC_HEADER, name=name, value=leading)
        self.event(c.SMFIC_EOH)
        for start in range(0, len(body), 1000):
            self.event(c.SMFIC_BODY, buf=body[start:start + 1000])
        return self.conn.send_eom()

    def close(self) -> None:
        self.conn._send(c.SMFIC_QUIT)
        self.sock.close()


async def converse(server: MilterServer, raw: bytes, **kwargs) -> tuple[MTA, list[tuple[str, dict]]]:
    def run():
        mta = MTA(server.address[1], kwargs.pop("protocol", c.SMFI_V6_PROT))
        try:
            return mta, mta.message(raw, **kwargs)
        finally:
            mta.close()

    return await asyncio.to_thread(run)


def records(server: MilterServer) -> list[Message]:
    with server.stores.sessions() as session:
        return list(session.query(Message).all())


async def test_negotiation_asks_for_leading_spaces_and_no_replies_postfix_offers(milter):
    mta, replies = await converse(milter, make_message(message_id="<neg@partner.example>"))
    assert mta.actions == c.SMFIF_ADDHDRS | c.SMFIF_CHGHDRS
    assert mta.protocol & c.SMFIP_HDR_LEADSPC and mta.protocol & c.SMFIP_NR_BODY and mta.protocol & c.SMFIP_NR_HDR
    assert replies[-1][0] == c.SMFIR_ACCEPT


async def test_benign_mail_is_accepted_with_verdict_header_and_forged_verdicts_deleted(milter):
    raw = make_message(
        subject="Minutes", message_id="<benign@partner.example>",
        headers={"X-Kakuri-Verdict": "deliver; score=0; id=forged", "x-kakuri-symbols": "NONE"},
    )
    _, replies = await converse(milter, raw, protocol=0)  # an MTA that wants every event answered
    edits = [(cmd, args) for cmd, args in replies if cmd in (c.SMFIR_CHGHEADER, c.SMFIR_ADDHEADER)]
    deleted = {(a["name"].lower(), a["index"]) for cmd, a in edits if cmd == c.SMFIR_CHGHEADER and a["value"] == ""}
    assert deleted == {("x-kakuri-verdict", 1), ("x-kakuri-symbols", 1)}
    [added] = [a for cmd, a in edits if cmd == c.SMFIR_ADDHEADER and a["name"] == "X-Kakuri-Verdict"]
    assert added["value"].startswith("deliver; score=")  # without leading spaces agreed, the MTA adds one
    assert replies[-1][0] == c.SMFIR_ACCEPT
    [record] = records(milter)  # committed before the accept: a kill -9 after it cannot lose the row
    assert (record.state, record.subject, record.message_id, record.client_ip) == (
        "delivered", "Minutes", "benign@partner.example", "203.0.113.5")
    assert record.recipients[0].last_reply.startswith("250 accepted by milter")


async def test_script_in_zip_is_stored_before_postfix_is_told_to_discard(milter):
    raw = script_in_zip()
    _, replies = await converse(milter, raw)
    assert [cmd for cmd, _ in replies] == [c.SMFIR_DISCARD]
    [record] = records(milter)
    assert record.state == "quarantined" and record.origin == "milter"
    kept = milter.stores.blobs.get(record.blob_sha256)
    assert kept.endswith(raw.partition(b"\r\n\r\n")[2])  # the body exactly as sent
    assert b"Subject: Invoice\r\n" in kept


async def test_policy_reject_is_a_550_reply_with_the_reason(milter):
    raw = make_message(subject="test", attachments=[("eicar.com", EICAR)])
    _, replies = await converse(milter, raw)
    [(cmd, reply)] = replies
    assert cmd == c.SMFIR_REPLYCODE and reply["smtpcode"] == "550" and "reject-eicar" in reply["text"]
    assert records(milter)[0].state == "rejected"


async def test_tag_verdict_tags_the_subject_once(milter):
    raw = make_message(subject="Quarterly report", from_="tagme@partner.example")
    _, replies = await converse(milter, raw, mail_from="tagme@partner.example")
    [subject] = [a for cmd, a in replies if cmd == c.SMFIR_CHGHEADER and a["name"] == "Subject"]
    assert subject["index"] == 1 and subject["value"] == " [SUSPICIOUS] Quarterly report"


async def test_emergency_hold_of_a_host_keeps_its_mail_as_held(milter):
    from kakuri.respond.emergency import ModeKind, enable_mode

    with milter.stores.sessions() as session:
        enable_mode(session, kind=ModeKind.HOLD_HOST, value="10.1.2.3", actor="test", reason="infected PC")
        session.commit()
    raw = make_message(subject="hello", from_="pc@example.org")
    _, replies = await converse(milter, raw, mail_from="pc@example.org", client_ip="10.1.2.3")
    assert [cmd for cmd, _ in replies] == [c.SMFIR_DISCARD]
    assert records(milter)[0].state == "held"


async def test_oversized_message_is_refused_with_552_without_a_scan(milter):
    raw = make_message(subject="big", body="x" * 400_000)
    _, replies = await converse(milter, raw)
    assert replies[0][0] == c.SMFIR_REPLYCODE and replies[0][1]["smtpcode"] == "552"
    assert records(milter) == []


async def test_scan_failure_is_a_tempfail(milter):
    milter.scans.close()  # the pool refuses work, as a broken pool would
    _, replies = await converse(milter, make_message())
    assert replies[0][0] == c.SMFIR_REPLYCODE and replies[0][1]["smtpcode"] == "451"


async def test_accepted_mail_that_cannot_be_recorded_is_a_tempfail(milter):
    def broken_record(**_):
        raise OSError("database unreachable")

    milter._record = broken_record
    _, replies = await converse(milter, make_message())
    assert replies[-1][0] == c.SMFIR_REPLYCODE and replies[-1][1]["smtpcode"] == "451"


async def test_garbage_closes_that_connection_and_the_listener_keeps_serving(milter):
    def garbage():
        with socket.create_connection(milter.address, timeout=5) as sock:
            sock.sendall(struct.pack(">I", 0xFFFFFFF0) + b"O")
            return sock.recv(10)

    assert await asyncio.to_thread(garbage) == b""  # closed; Postfix would apply milter_default_action
    _, replies = await converse(milter, make_message())
    assert replies[-1][0] == c.SMFIR_ACCEPT


async def test_a_message_recorded_by_a_killed_run_and_sent_again_was_not_accepted_the_first_time(milter):
    """A run killed after its record and before its answer: Postfix tempfailed, the client sent it again."""
    raw = make_message(subject="twice", message_id="<again@partner.example>")
    await converse(milter, raw)
    [first] = records(milter)
    await milter.stop()  # the next run starts (what kill -9 and a restart do to the listener)
    await milter.start()
    _, replies = await converse(milter, raw)
    assert replies[-1][0] == c.SMFIR_ACCEPT
    by_id = {m.queue_id: m for m in records(milter)}
    [second] = [m for q, m in by_id.items() if q != first.queue_id]
    assert second.state == "delivered"
    superseded = by_id[first.queue_id]
    assert superseded.state == "rejected" and superseded.recipients[0].status == "rejected"
    assert superseded.recipients[0].last_reply.startswith(f"451 not accepted") and second.queue_id in (
        superseded.recipients[0].last_reply)
    # In one run the same bytes again are a new message (the client's own resend), not a retry of ours.
    await converse(milter, raw)
    assert sorted(m.state for m in records(milter)) == ["delivered", "delivered", "rejected"]
    # A different recipient is a different transaction, even after a restart.
    await milter.stop()
    await milter.start()
    await converse(milter, raw, rcpts=("carol@example.org",))
    assert sorted(m.state for m in records(milter)) == ["delivered", "delivered", "delivered", "rejected"]
