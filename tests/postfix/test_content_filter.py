"""kakuri as Postfix's after-queue content filter: real Postfix, real `kakuri serve`, Maildir delivery."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import threading
import time

import pytest

from tests.builders import make_message
from tests.postfix.conftest import RCPT, start_stack, stop_stack, wait_for
from tests.postfix.exactness import RandomKills, assert_trace_exact, settled
from tests.receive.test_smtp_handler import EICAR, script_in_zip

pytestmark = [pytest.mark.postfix, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def stack():
    stack = start_stack("content-filter")
    yield stack
    stop_stack(stack)


def with_id(raw: bytes, message_id: str) -> bytes:
    return raw.replace(raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0], message_id.encode(), 1)


def delivered(stack, message_id: str):
    return next((m for m in stack.postfix.delivered() if m.get("Message-ID", "").strip() == message_id), None)


def test_benign_mail_is_delivered_through_kakuri_with_its_headers(stack):
    stack.send(make_message(subject="Minutes", to=RCPT, message_id="<cf-benign@partner.example>"))
    message = wait_for(lambda: delivered(stack, "<cf-benign@partner.example>"), message="delivery")
    assert message["X-Kakuri-Verdict"].startswith("deliver; score=")
    # Postfix saw it twice: once before the filter, once on re-injection from kakuri.
    assert "kakuri-scan" in stack.postfix.log_tail(20000) and "kakuri-reinject" in stack.postfix.log_tail(20000)
    # XFORWARD: kakuri recorded the client's own EHLO name, not Postfix's.
    trace = subprocess.run([sys.executable, "-m", "kakuri", "--home", str(stack.kakuri.home), "trace", "--jsonl"],
                           capture_output=True, text=True, check=True).stdout
    row = next(json.loads(line) for line in trace.splitlines() if "cf-benign@partner.example" in line)
    assert row["helo"] == smtplib.SMTP().local_hostname  # what the test client said in EHLO


def test_script_in_zip_is_quarantined_by_kakuri_and_never_delivered(stack):
    raw = script_in_zip().replace(b"Message-ID: <", b"Message-ID: <cf-script-", 1)
    message_id = raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
    stack.send(raw)
    wait_for(lambda: message_id in stack.kakuri.kept_ids(), message="quarantine record")
    wait_for(lambda: stack.postfix.queue_count() == 0, message="postfix queue empty")
    assert delivered(stack, message_id) is None


def test_release_from_quarantine_reaches_the_maildir(stack):
    eicar = make_message(subject="test", attachments=[("eicar.com", EICAR)], message_id="<cf-eicar@partner.example>")
    stack.send(eicar)
    wait_for(lambda: "<cf-eicar@partner.example>" in stack.kakuri.kept_ids(), message="quarantine record")
    [record] = [r for r in stack.kakuri.messages() if r["message_id"] == "cf-eicar@partner.example"]
    stack.kakuri.cli("quarantine", "release", record["queue_id"], "--reason", "test release")
    message = wait_for(lambda: delivered(stack, "<cf-eicar@partner.example>"), message="released delivery")
    assert message["X-Kakuri-Verdict"].startswith("released quarantine")


def test_mail_sent_while_kakuri_is_down_waits_in_postfix_and_arrives_after_restart(stack):
    # The stack is shared by the module: mail of an earlier test may still be on its way through Postfix.
    wait_for(lambda: stack.postfix.flush() or stack.postfix.queue_count() == 0, message="postfix queue empty first")
    stack.kakuri.stop()
    ids = [f"<cf-down-{i}@partner.example>" for i in range(3)]
    for message_id in ids:
        stack.send(make_message(subject="while down", to=RCPT, message_id=message_id))
    wait_for(lambda: "kakuri-scan" in stack.postfix.log_tail(5000) and "deferred" in stack.postfix.log_tail(5000),
             message="postfix defers")
    assert not set(ids) & set(stack.postfix.delivered_ids())
    assert stack.postfix.queue_count() == 3  # nothing lost: Postfix holds them
    stack.kakuri.start()
    stack.postfix.flush()
    wait_for(lambda: set(ids) <= set(stack.postfix.delivered_ids()), message="delivery after restart")


def test_kill_9_at_random_moments_during_traffic_leaves_the_trace_exact(stack):
    """Postfix holds every message until kakuri's 250; kakuri is killed three times while it works through
    them. Each message ends once in the mailbox or in quarantine, and the trace says which (exactness.py)."""
    expected: dict[str, str] = {}
    total = 60

    def traffic():
        for i in range(total):
            message_id = f"<cf-kill-{i}@partner.example>"
            raw = script_in_zip() if i % 5 == 0 else make_message(subject=f"load {i}", to=RCPT)
            stack.send(with_id(raw, message_id))  # Postfix's 250: from here on the message must not be lost
            expected[message_id] = "quarantined" if i % 5 == 0 else "delivered"
            time.sleep(0.03)

    sender = threading.Thread(target=traffic)
    kills = RandomKills(stack, count=3, busy=lambda: len(expected) < total or stack.postfix.queue_count() > 0)
    sender.start()
    wait_for(lambda: len(expected) >= 5, message="traffic started")
    kills.start()
    sender.join()
    kills.check()
    wait_for(lambda: settled(stack, expected), timeout=90, interval=1.0, message=f"settled (seed {kills.seed})")
    assert len(expected) == total
    assert_trace_exact(stack, expected, prefix="<cf-kill-", seed=kills.seed, kills=kills.kills)
