#!/usr/bin/env python3
"""Throughput through a real Postfix + kakuri, in both deployment modes (needs root and Debian's postfix).

    .venv/bin/python scripts/bench-postfix.py --mode both --clients 8 --seconds 20

For each mode: a private Postfix on loopback (the test harness in tests/postfix, configured with what
`kakuri postfix-config` prints) and kakuri with the production scan pool (one process per core).
N smtplib clients send the corpus messages round-robin for a bounded time, retrying 4xx answers as an
MTA would; then we wait until every accepted message is in the Maildir or in kakuri's store.

Reported per mode: accepted/s (the rate Postfix answered 250 to the clients: for the milter this
includes the scan) and end-to-end/s (accepted messages / time from the first send until the last one
was delivered or kept: for the content filter this is where the scan shows).
"""

from __future__ import annotations

import argparse
import itertools
import smtplib
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.postfix.conftest import RCPT, SENDER, start_stack, stop_stack  # noqa: E402


def load_corpus(folder: Path) -> list[bytes]:
    messages = [p.read_bytes() for p in sorted(folder.glob("*.eml"))]
    if not messages:
        raise SystemExit(f"no .eml files in {folder}")
    return messages


def run_clients(port: int, corpus: list[bytes], *, clients: int, seconds: float) -> tuple[int, int, float]:
    """(accepted, temporary failures, seconds spent sending)."""
    counter = itertools.count()
    stats = {"accepted": 0, "tempfail": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        smtp = None
        while time.monotonic() < deadline:
            raw = corpus[next(counter) % len(corpus)]
            try:
                smtp = smtp or smtplib.SMTP("127.0.0.1", port, timeout=120)
                smtp.sendmail(SENDER, [RCPT], raw)
                outcome = "accepted"
            except smtplib.SMTPResponseException as exc:
                outcome = "tempfail" if 400 <= exc.smtp_code < 500 else "accepted"  # 5xx: refused, counted as done
                smtp = _close(smtp)
            except (smtplib.SMTPException, OSError):
                outcome, smtp = "tempfail", _close(smtp)
            with lock:
                stats[outcome] += 1
        _close(smtp)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stats["accepted"], stats["tempfail"], time.monotonic() - started


def _close(smtp):
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
    return None


def accounted(stack) -> int:
    new = stack.postfix.maildir / "new"
    delivered = len(list(new.iterdir())) if new.exists() else 0
    return delivered + len(stack.kakuri.messages("quarantined", "held", "rejected"))


def bench(mode: str, corpus: list[bytes], *, clients: int, seconds: float) -> dict:
    stack = start_stack(mode, scan_pool="process")
    try:
        warm = corpus[:4]  # the first scans build worker state; not part of the figure
        for raw in warm:
            stack.send(raw)
        while accounted(stack) < len(warm):
            time.sleep(0.2)
        base = accounted(stack)
        started = time.monotonic()
        accepted, tempfail, sending = run_clients(stack.postfix.smtp_port, corpus, clients=clients, seconds=seconds)
        limit = time.monotonic() + 600
        while accounted(stack) - base < accepted and time.monotonic() < limit:
            stack.postfix.flush() if mode == "content-filter" else None
            time.sleep(0.2)
        done = accounted(stack) - base
        total = time.monotonic() - started
        return {
            "mode": mode,
            "clients": clients,
            "accepted": accepted,
            "tempfail": tempfail,
            "accounted": done,
            "accepted_per_s": accepted / sending,
            "end_to_end_per_s": done / total,
        }
    finally:
        stop_stack(stack)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["content-filter", "milter", "both"], default="both")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "messages")
    args = parser.parse_args()
    corpus = load_corpus(args.corpus)
    modes = ["content-filter", "milter"] if args.mode == "both" else [args.mode]
    for mode in modes:
        r = bench(mode, corpus, clients=args.clients, seconds=args.seconds)
        print(
            f"{r['mode']:>14}: {r['clients']} clients, {r['accepted']} accepted ({r['tempfail']} 4xx retried), "
            f"{r['accounted']} delivered or kept; accepted {r['accepted_per_s']:.1f} msg/s, "
            f"end-to-end {r['end_to_end_per_s']:.1f} msg/s",
            flush=True,
        )


if __name__ == "__main__":
    main()
