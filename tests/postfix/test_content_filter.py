"""kakuri as Postfix's after-queue content filter: real Postfix, real `kakuri serve`, Maildir delivery."""

from __future__ import annotations

import json
import signal
import smtplib
import subprocess
import sys
import threading
import time

import pytest

from tests.builders import make_message
from tests.postfix.conftest import RCPT, start_stack, stop_stack, wait_for
from tests.receive.test_smtp_handler import EICAR, script_in_zip

pytestmark = [pytest.mark.postfix, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def stack():
    stack = start_stack("content-filter")
    yield stack
    stop_stack(stack)


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


def test_kill_and_restart_of_kakuri_during_traffic_loses_nothing(stack):
    sent: list[str] = []

    def traffic():
        for i in range(40):
            message_id = f"<cf-load-{i}@partner.example>"
            raw = script_in_zip() if i % 5 == 0 else make_message(subject=f"load {i}", to=RCPT)
            raw = raw.replace(raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0], message_id.encode(), 1)
            stack.send(raw)
            sent.append(message_id)
            time.sleep(0.02)

    sender = threading.Thread(target=traffic)
    sender.start()
    wait_for(lambda: len(sent) >= 10, message="traffic started")
    stack.kakuri.stop(signal.SIGKILL)
    time.sleep(0.5)
    stack.kakuri.start()
    sender.join()

    def all_accounted():
        stack.postfix.flush()
        return set(sent) <= set(stack.postfix.delivered_ids()) | stack.kakuri.kept_ids()

    wait_for(all_accounted, timeout=60, interval=1.0, message="every message delivered or quarantined")
    kept = {m for m in sent if m in stack.kakuri.kept_ids()}
    assert kept == {f"<cf-load-{i}@partner.example>" for i in range(0, 40, 5)}
