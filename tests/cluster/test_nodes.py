"""Three `kakuri serve` nodes on one PostgreSQL: status, emergency switches across nodes, a release from
another node's console, and a node killed with SIGKILL under load whose acknowledged mail the others finish.

The tests share one cluster (starting three nodes costs seconds) and run in file order: the kill comes last.
"""

from __future__ import annotations

import functools
import json
import signal
import smtplib
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import select, text

from kakuri.store.messages import Message
from tests.builders import make_message
from tests.cluster.conftest import LEASE_SECONDS, OUR_DOMAIN
from tests import waiting
from tests.receive.test_smtp_handler import script_in_zip

pytestmark = pytest.mark.postgres

RCPT = f"hanako@{OUR_DOMAIN}"


def send(node, raw: bytes, *, mail_from: str = "taro@partner.example", timeout: float = 30.0) -> str:
    """One SMTP transaction; returns the queue id of the 250 reply (raises on anything else)."""
    with smtplib.SMTP(*node.smtp, timeout=timeout) as client:
        client.ehlo("client.partner.example")
        client.mail(mail_from)
        client.rcpt(RCPT)
        code, reply = client.data(raw)
    if code != 250:
        raise smtplib.SMTPResponseException(code, reply)
    return reply.decode().split("queued as ")[-1].strip()


wait_for = functools.partial(waiting.wait_for, timeout=20.0, interval=0.1)


def state_of(store, queue_id: str) -> str | None:
    with store.sessions() as session:
        message = session.get(Message, queue_id)
        return message.state if message else None


def settled(store, queue_id: str, states=("held", "delivered", "quarantined")) -> str:
    """The message's state once it is one of `states`."""
    wait_for(lambda: state_of(store, queue_id) in states)
    return state_of(store, queue_id)


def at_sink(next_hop, message_id: str) -> int:
    return next_hop.message_ids().count(f"<{message_id}>")


def cli(node, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kakuri", "--home", str(node.home), *args],
                          capture_output=True, text=True, timeout=60)


def test_status_shows_every_node_alive_with_its_queue(nodes, admin_token):
    result = cli(nodes["b"], "status", "--jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_node = {row["node"]: row for row in rows if "node" in row}
    assert set(by_node) == {"node-a", "node-b", "node-c"}
    assert all(row["state"] == "alive" and row["heartbeat_age_seconds"] < LEASE_SECONDS for row in by_node.values())
    assert rows[-1]["unowned_entries"] == 0
    console = httpx.get(f"{nodes['c'].web}/api/v1/nodes", headers={"Authorization": f"Bearer {admin_token}"}).json()
    assert console["shared"] and [n["node_id"] for n in console["nodes"]] == ["node-a", "node-b", "node-c"]
    assert {n["state"] for n in console["nodes"]} == {"alive"}


def test_emergency_switch_from_node_a_holds_mail_on_node_b_within_one_second(nodes, admin_token, store, next_hop):
    headers = {"Authorization": f"Bearer {admin_token}"}
    sender = f"infected@{OUR_DOMAIN}"
    before = send(nodes["b"], make_message(message_id="<before-switch@x>"), mail_from=sender)
    wait_for(lambda: state_of(store, before) == "delivered")
    # B's workers read the modes at their first scan; without NOTIFY they would not look again for 30 s.
    switched = httpx.post(f"{nodes['a'].web}/api/v1/emergency/on", headers=headers, timeout=10,
                          json={"kind": "hold_sender", "value": sender, "reason": "cluster test"})
    assert switched.status_code == 200, switched.text
    at = time.monotonic()
    try:
        time.sleep(max(0.0, 1.0 - (time.monotonic() - at)))
        held = send(nodes["b"], make_message(message_id="<after-switch@x>"), mail_from=sender)
        other = send(nodes["c"], make_message(message_id="<other-sender@x>"))
        assert settled(store, held) == "held"
        assert settled(store, other) == "delivered"
    finally:
        off = httpx.post(f"{nodes['a'].web}/api/v1/emergency/off", headers=headers, timeout=10,
                         json={"kind": "hold_sender", "value": sender, "reason": "cluster test over"})
        assert off.status_code == 200, off.text
    assert at_sink(next_hop, "after-switch@x") == 0


def test_message_quarantined_on_a_is_released_from_b_once(nodes, admin_token, store, next_hop):
    by_console = send(nodes["a"], make_message(
        subject="Invoice", message_id="<release-by-console@x>",
        attachments=[("invoice.zip", _zip_payload(), "application/zip")]))
    by_cli = send(nodes["a"], _with_id(script_in_zip(), "release-by-cli@x"))
    for queue_id in (by_console, by_cli):
        assert settled(store, queue_id) == "quarantined"
    released = httpx.post(f"{nodes['b'].web}/api/v1/quarantine/{by_console}/release", timeout=10,
                          headers={"Authorization": f"Bearer {admin_token}"}, json={"reason": "false positive"})
    assert released.status_code == 200, released.text
    result = cli(nodes["b"], "quarantine", "release", by_cli, "--reason", "false positive")  # no node: any claims it
    assert result.returncode == 0, result.stderr
    wait_for(lambda: at_sink(next_hop, "release-by-console@x") and at_sink(next_hop, "release-by-cli@x"))
    wait_for(lambda: state_of(store, by_cli) == "released" and state_of(store, by_console) == "released")
    time.sleep(1.0)  # several polls of all three nodes: nobody delivers either again
    assert at_sink(next_hop, "release-by-console@x") == 1
    assert at_sink(next_hop, "release-by-cli@x") == 1
    with store.engine.connect() as conn:  # finished entries are deleted in the background, within a moment
        wait_for(lambda: conn.scalar(text("SELECT count(*) FROM spool_entries")) == 0, timeout=5)


def test_a_stalled_node_finishes_what_it_was_delivering_and_drops_what_a_survivor_took_over(nodes, store, next_hop):
    next_hop._gate.clear()
    next_hop.hold = True  # B's deliveries wait at the next hop, holding their entries
    ids = [f"stall-{i}@partner.example" for i in range(14)]
    try:
        for message_id in ids:
            send(nodes["b"], make_message(subject="stall", message_id=f"<{message_id}>"))
        with store.engine.connect() as conn:  # 8 in delivery ([delivery] concurrency), the rest waiting behind
            wait_for(lambda: conn.scalar(text("SELECT count(*) FROM spool_entries WHERE owner = 'node-b'")) == len(ids))
        time.sleep(0.5)
        nodes["b"].process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(LEASE_SECONDS + 1.5)  # B's lease runs out; A and C take what B was not delivering
            with store.engine.connect() as conn:
                owners = dict(conn.execute(text("SELECT owner, count(*) FROM spool_entries GROUP BY owner")).all())
            next_hop.release()  # B's held transactions get their 250 while it is stopped
        finally:
            nodes["b"].process.send_signal(signal.SIGCONT)
        wait_for(lambda: all(at_sink(next_hop, m) for m in ids), timeout=30)
        time.sleep(LEASE_SECONDS + 1.0)  # B is back: nothing is delivered a second time
    finally:
        next_hop.hold = False
        next_hop._gate.clear()
    assert owners.get("node-b", 0) >= 1  # what it was delivering stayed with it (row locks)
    assert owners.get("node-a", 0) + owners.get("node-c", 0) >= 1  # the rest was taken over
    assert [at_sink(next_hop, m) for m in ids] == [1] * len(ids)
    assert nodes["b"].process.poll() is None


def test_node_killed_under_load_leaves_every_acknowledged_message_exactly_once(nodes, store, next_hop, admin_token):
    acked: dict[str, str] = {}  # Message-ID -> node that answered 250
    sent_ids: set[str] = set()
    stop = threading.Event()
    lock = threading.Lock()

    def load(node, worker: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            message_id = f"load-{node.name}{worker}-{i}@partner.example"
            raw = (_with_id(script_in_zip(), message_id) if i % 7 == 0
                   else make_message(subject=f"load {i}", message_id=f"<{message_id}>"))
            with lock:
                sent_ids.add(message_id)
            try:
                send(node, raw, timeout=10)
            except (OSError, smtplib.SMTPException):
                if node.process.poll() is not None:
                    return  # the node is dead: its client moves on, as a real MTA would
                continue
            with lock:
                acked[message_id] = node.name

    threads = [threading.Thread(target=load, args=(node, w)) for node in nodes.values() for w in range(2)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: sum(n == "c" for n in acked.values()) >= 15, timeout=60, interval=0.05)
        # Hold the next hop's DATA replies, so that the node dies with deliveries in flight whose 250 it never
        # reads (the one gap no gateway can close is a 250 read but not yet recorded: see delivery.py).
        next_hop._gate.clear()
        next_hop.hold = True
        time.sleep(0.5)
        with store.engine.connect() as conn:
            owned_by_c = conn.scalar(text("SELECT count(*) FROM spool_entries WHERE owner = 'node-c'"))
        nodes["c"].kill()
        time.sleep(0.5)
        next_hop.release()
        time.sleep(1.0)  # A and B keep taking mail while they take C's over
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert owned_by_c > 0  # C died with work to hand over
    with lock:
        expected = dict(acked)

    def finished() -> tuple[set[str], set[str]]:
        delivered = {m.strip("<>") for m in next_hop.message_ids()}
        with store.sessions() as session:
            quarantined = set(session.scalars(select(Message.message_id).where(Message.state == "quarantined")))
        return delivered, quarantined

    wait_for(lambda: all(m in set.union(*finished()) for m in expected), timeout=30 + 3 * LEASE_SECONDS)
    time.sleep(2 * LEASE_SECONDS)  # and nothing more arrives afterwards
    delivered_list = [m.strip("<>") for m in next_hop.message_ids() if m.startswith("<load-")]
    delivered, quarantined = finished()
    duplicates = {m for m in delivered_list if delivered_list.count(m) > 1}
    assert not duplicates
    assert not (delivered & quarantined)
    assert set(delivered_list) <= sent_ids
    missing = [m for m in expected if m not in delivered and m not in quarantined]
    assert not missing
    assert sum(n == "c" for n in expected.values()) >= 15
    assert any(m in quarantined for m in expected)
    status = {row["node"]: row for row in map(json.loads, cli(nodes["a"], "status", "--jsonl").stdout.splitlines())
              if "node" in row}
    assert status["node-c"]["state"] == "dead" and status["node-c"]["owned_entries"] == 0
    assert status["node-a"]["state"] == status["node-b"]["state"] == "alive"
    console = httpx.get(f"{nodes['a'].web}/api/v1/nodes", headers={"Authorization": f"Bearer {admin_token}"}).json()
    assert {n["node_id"]: n["state"] for n in console["nodes"]}["node-c"] == "dead"


def _zip_payload() -> bytes:
    from tests.builders_archive import zip_of

    return zip_of({"invoice.js": b'var s = new ActiveXObject("WScript.Shell"); s.Run("powershell -enc AAAA");'})


def _with_id(raw: bytes, message_id: str) -> bytes:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"message-id:")]
    return b"\r\n".join([*lines, f"Message-ID: <{message_id}>".encode()]) + b"\r\n\r\n" + body
