"""kakuri as a Postfix milter: real Postfix calls `kakuri milter` during DATA; Maildir delivery."""

from __future__ import annotations

import smtplib
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
    stack = start_stack("milter", policy='[[overrides]]\nname = "reject-eicar"\nwhen = "IOC_EICAR"\naction = "reject"\n')
    yield stack
    stop_stack(stack)


def with_id(raw: bytes, message_id: str) -> bytes:
    return raw.replace(raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0], message_id.encode(), 1)


def delivered(stack, message_id: str):
    return next((m for m in stack.postfix.delivered() if m.get("Message-ID", "").strip() == message_id), None)


def send_until_accepted(stack, raw: bytes, *, tries: int = 200) -> None:
    """What a sending MTA does: retry on 4xx and on a dropped connection."""
    for _ in range(tries):
        try:
            stack.send(raw)
            return
        except smtplib.SMTPRecipientsRefused as exc:
            if not all(400 <= code < 500 for code, _ in exc.recipients.values()):
                raise
        except smtplib.SMTPResponseException as exc:
            if not 400 <= exc.smtp_code < 500:
                raise
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            pass
        time.sleep(0.2)
    raise AssertionError("never accepted")


def test_benign_mail_is_accepted_with_kakuri_headers_and_forged_ones_removed(stack):
    raw = make_message(
        subject="Minutes", to=RCPT, message_id="<m-benign@partner.example>",
        headers={"X-Kakuri-Verdict": "deliver; score=0.00; id=forged"},
    )
    stack.send(raw)
    message = wait_for(lambda: delivered(stack, "<m-benign@partner.example>"), message="delivery")
    verdicts = message.get_all("X-Kakuri-Verdict")
    assert len(verdicts) == 1 and verdicts[0].startswith("deliver; score=") and "forged" not in verdicts[0]
    [raw] = [r for r in stack.postfix.delivered_raw() if b"<m-benign@partner.example>" in r]
    assert b"\nX-Kakuri-Verdict: deliver; score=" in raw  # one space after the colon, as any MTA writes it
    # The trace record of accepted mail is written just after the answer.
    wait_for(lambda: [r for r in stack.kakuri.messages("delivered") if r["message_id"] == "m-benign@partner.example"],
             message="delivered record")


def test_script_in_zip_is_kept_by_kakuri_and_discarded_to_postfix(stack):
    raw = with_id(script_in_zip(), "<m-script@partner.example>").replace(
        b"Subject: Invoice\r\n", b"Subject: Invoice for the order\r\n\tfolded onto a second line\r\n", 1
    )
    stack.send(raw)  # 250: the client must not retry
    # Stored before the discard answer, byte for byte as the client sent it (folded header included).
    [record] = [r for r in stack.kakuri.messages("quarantined") if r["message_id"] == "m-script@partner.example"]
    assert stack.kakuri.kept_copy(record) == raw
    wait_for(lambda: "milter-discard" in stack.postfix.log_tail(20000), message="postfix discards")
    time.sleep(0.5)
    assert delivered(stack, "<m-script@partner.example>") is None


def test_policy_reject_gives_the_client_550_with_the_reason(stack):
    raw = make_message(subject="test", attachments=[("eicar.com", EICAR)], message_id="<m-eicar@partner.example>")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        stack.send(raw)
    assert refused.value.smtp_code == 550 and b"reject-eicar" in refused.value.smtp_error
    [record] = [r for r in stack.kakuri.messages() if r["message_id"] == "m-eicar@partner.example"]
    assert record["state"] == "rejected"


def test_release_from_quarantine_reaches_the_maildir_without_a_second_scan(stack):
    stack.send(with_id(script_in_zip(), "<m-release@partner.example>"))
    [record] = [r for r in stack.kakuri.messages() if r["message_id"] == "m-release@partner.example"]
    stack.kakuri.cli("quarantine", "release", record["queue_id"], "--reason", "test release")
    message = wait_for(lambda: delivered(stack, "<m-release@partner.example>"), message="released delivery")
    assert message["X-Kakuri-Verdict"].startswith("released quarantine")


def test_while_kakuri_is_down_postfix_tempfails_and_accepts_after_restart(stack):
    stack.kakuri.stop()
    raw = make_message(subject="while down", to=RCPT, message_id="<m-down@partner.example>")
    with pytest.raises(smtplib.SMTPException) as refused:
        stack.send(raw)
    code = getattr(refused.value, "smtp_code", None) or next(iter(refused.value.recipients.values()))[0]
    assert 400 <= code < 500  # milter_default_action = tempfail: nothing is accepted unscanned
    stack.kakuri.start()
    stack.send(raw)
    wait_for(lambda: delivered(stack, "<m-down@partner.example>"), message="delivery after restart")


def test_kill_9_at_random_moments_during_traffic_leaves_the_trace_exact(stack):
    """Three senders retry on 4xx as MTAs do while kakuri is killed three times: each message Postfix
    finally accepted is in the mailbox once or kept once, and the trace says which; attempts Postfix
    tempfailed while kakuri was dead are never recorded as delivered (exactness.py)."""
    expected: dict[str, str] = {}
    per_worker = 15

    def traffic(worker: int):
        for i in range(per_worker):
            message_id = f"<m-kill-{worker}-{i}@partner.example>"
            raw = script_in_zip() if i % 5 == 0 else make_message(subject=f"load {i}", to=RCPT)
            send_until_accepted(stack, with_id(raw, message_id))
            expected[message_id] = "quarantined" if i % 5 == 0 else "delivered"

    senders = [threading.Thread(target=traffic, args=(w,)) for w in range(3)]
    kills = RandomKills(stack, count=3, busy=lambda: len(expected) < 3 * per_worker)
    for sender in senders:
        sender.start()
    wait_for(lambda: len(expected) >= 3, message="traffic started")
    kills.start()
    for sender in senders:
        sender.join()
    kills.check()
    assert len(expected) == 3 * per_worker
    wait_for(lambda: settled(stack, expected), timeout=60, interval=1.0, message=f"settled (seed {kills.seed})")
    assert_trace_exact(stack, expected, prefix="<m-kill-", seed=kills.seed, kills=kills.kills)
