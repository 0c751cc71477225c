"""kill -9 at any moment loses nothing and duplicates nothing that was delivered: real processes, real SMTP.

The gateway runs as `kakuri serve` in a child process; the next hop is a recording aiosmtpd server in
this process. Messages are identified by Message-ID, and a message counts as accepted only when the
client read our 250.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.builders import make_message
from tests.receive.conftest import free_port
from tests.receive.test_smtp_handler import script_in_zip

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class ServeProcess:
    def __init__(self, home: Path, sink_port: int) -> None:
        self.home, self.sink_port, self.port = home, sink_port, free_port()
        home.mkdir(parents=True, exist_ok=True)
        (home / "kakuri.toml").write_text(
            '[smtp]\nscan_pool = "thread"\n'
            "[delivery]\nretry_schedule_seconds = [0.3]\nconcurrency = 4\n"
            "[spool]\npoll_seconds = 0.3\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.home / "serve.log", "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kakuri",
                "--home",
                str(self.home),
                "serve",
                "--smtp",
                f"127.0.0.1:{self.port}",
                "--next-hop",
                f"127.0.0.1:{self.sink_port}",
            ],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.home / "serve.log").read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("kakuri serve did not start")

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def records(self) -> dict[str, tuple[str, str]]:
        """queue id -> (Message-ID, state), straight from the database."""
        with sqlite3.connect(self.home / "kakuri.db") as conn:
            return {q: (m, s) for q, m, s in conn.execute("SELECT queue_id, message_id, state FROM gw_messages")}


@pytest.fixture
def serve(tmp_path, sink):
    process = ServeProcess(tmp_path / "home", sink.port)
    yield process
    process.stop()


def send_one(port: int, raw: bytes) -> str | None:
    """The queue id if our 250 was read, else None (the client still owns the message)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
            client.ehlo()
            client.mail("taro@partner.example")
            client.rcpt("hanako@tokai-keiki.example")
            code, reply = client.data(raw)
            return reply.decode().split("queued as ")[-1] if code == 250 else None
    except (smtplib.SMTPException, OSError):
        return None


def batch(prefix: str, n: int, malicious_every: int = 0) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        mid = f"<{prefix}-{i}@partner.example>"
        if malicious_every and i % malicious_every == 0:
            out[mid] = (
                script_in_zip()
                .replace(b"Message-ID: <", b"X-Old-Id: <", 1)
                .replace(b"X-Old-Id:", f"Message-ID: {mid}\r\nX-Old-Id:".encode(), 1)
            )
        else:
            out[mid] = make_message(subject=f"{prefix} {i}", message_id=mid)
    return out


def wait_for(predicate, timeout=40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def settle_and_check(serve, sink, accepted: dict[str, str], messages: dict[str, bytes]) -> None:
    """Every accepted message ends exactly once: delivered once at the sink, or quarantined and not delivered."""
    malicious = {mid for mid, raw in messages.items() if b"invoice.zip" in raw}
    benign = {mid for mid in accepted if mid not in malicious}
    wait_for(lambda: benign <= set(sink.message_ids()))
    wait_for(lambda: all(s in ("delivered", "quarantined") for _, s in serve.records().values()))
    time.sleep(1.0)  # give a duplicate the chance to show up
    counts = Counter(sink.message_ids())
    assert {mid: counts[mid] for mid in benign} == {mid: 1 for mid in benign}
    assert not (malicious & set(counts))
    records = serve.records()
    for mid, queue_id in accepted.items():
        assert records[queue_id] == (mid.strip("<>"), "quarantined" if mid in malicious else "delivered")
    assert not list((serve.home / "spool").glob("*.msg"))


def test_kill_while_deliveries_wait_for_the_next_hop(serve, sink):
    serve.start()
    sink.hold = True  # the next hop does not answer DATA until released
    messages = batch("held", 10, malicious_every=4)
    accepted = {mid: send_one(serve.port, raw) for mid, raw in messages.items()}
    assert all(accepted.values())
    time.sleep(1.0)  # scanning done, deliveries in flight and blocked at DATA
    serve.kill9()
    time.sleep(0.5)  # the sink notices the dead connections before it may answer
    sink.release()
    assert sink.received == []
    serve.start()
    settle_and_check(serve, sink, accepted, messages)


def test_kill_while_clients_are_sending(serve, sink):
    serve.start()
    sink.hold = True
    messages = batch("burst", 40, malicious_every=7)
    results: dict[str, str | None] = {}

    def client(items):
        for mid, raw in items:
            results[mid] = send_one(serve.port, raw)

    items = list(messages.items())
    threads = [threading.Thread(target=client, args=(items[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: sum(1 for v in results.values() if v) >= 12, timeout=30)
    serve.kill9()  # clients are mid-conversation
    for t in threads:
        t.join(30)
    time.sleep(0.5)
    sink.release()
    accepted = {mid: q for mid, q in results.items() if q}
    serve.start()
    settle_and_check(serve, sink, accepted, {m: messages[m] for m in accepted})
    # Messages whose 250 the client never read may or may not have been spooled: at most once each.
    assert max(Counter(sink.message_ids()).values()) == 1


def test_random_kills_during_free_flow_lose_nothing(serve, sink):
    """Kills at arbitrary moments. The only duplicate possible is the documented at-least-once gap
    (next hop said 250, we died before recording it): at most one per delivery in flight."""
    serve.start()
    messages = batch("flow", 30, malicious_every=6)
    accepted: dict[str, str] = {}
    items = list(messages.items())
    for round_, chunk in enumerate((items[:15], items[15:])):
        for mid, raw in chunk:
            queue_id = send_one(serve.port, raw)
            if queue_id:
                accepted[mid] = queue_id
        time.sleep(0.05 + 0.1 * round_)
        serve.kill9()
        serve.start()
    malicious = {mid for mid, raw in messages.items() if b"invoice.zip" in raw}
    benign = {mid for mid in accepted if mid not in malicious}
    wait_for(lambda: benign <= set(sink.message_ids()))
    wait_for(lambda: all(s in ("delivered", "quarantined") for _, s in serve.records().values()))
    counts = Counter(sink.message_ids())
    duplicates = sum(c - 1 for c in counts.values())
    assert duplicates <= 2 * 4  # two kills x delivery concurrency
    assert not (malicious & set(counts))
    assert len(accepted) == 30
