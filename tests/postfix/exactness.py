"""kill -9 of kakuri at random moments during traffic through a real Postfix, and the check that kakuri's
trace then says exactly what happened at the final mailbox (issue 13: "the trace is exact").

Exact means, for every message the test sent and Postfix accepted:
- the final mailbox holds it exactly once if kakuri let it through, never if kakuri kept it;
- `kakuri trace --jsonl` shows exactly one accepted record for it (rejected/tempfailed attempts may be
  recorded, but never as delivered), in the state that matches the mailbox (delivered / quarantined),
  every recipient final (none queued, pending or deferred), and the delivered copy names that record
  (`X-Kakuri-Verdict: ...; id=<queue id>`);
- nothing is left in Postfix's queue or kakuri's spool.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict

KEPT_STATES = ("quarantined", "held")
FINAL_RECIPIENT = {"delivered": ("delivered",), "quarantined": ("quarantined",)}


class RandomKills(threading.Thread):
    """kill -9 kakuri `count` times at random moments while `busy()` holds, restarting it each time."""

    def __init__(self, stack, *, count: int, busy, seed: int | None = None) -> None:
        super().__init__(daemon=True)
        self.stack, self.count, self.busy = stack, count, busy
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        self.rng = random.Random(self.seed)
        self.kills = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for _ in range(self.count):
                time.sleep(self.rng.uniform(0.05, 0.8))  # after a restart, kakuri takes traffic again at once
                if not self.busy():
                    break
                self.stack.kakuri.stop(signal.SIGKILL)
                self.kills += 1
                time.sleep(self.rng.uniform(0.0, 0.3))
                self.stack.kakuri.start()
                self.stack.postfix.flush()  # content filter: what Postfix deferred meanwhile goes to kakuri now
        except BaseException as exc:  # surfaced by the test through `check`
            self.error = exc

    def check(self) -> None:
        self.join(timeout=120)
        assert self.error is None, f"kill loop failed (seed {self.seed}): {self.error!r}"
        assert self.kills >= 1, f"no kill happened during traffic (seed {self.seed})"


def trace_rows(kakuri) -> list[dict]:
    out = kakuri.cli("trace", "--jsonl", "--limit", "100000").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def spool_entries(kakuri) -> list[str]:
    spool = kakuri.home / "spool"
    return sorted(p.name for p in spool.glob("*.msg")) if spool.exists() else []


def settled(stack, expected: dict[str, str]) -> bool:
    """Every expected message is at its end, and nothing is left to move anywhere."""
    stack.postfix.flush()
    mailbox = set(stack.postfix.delivered_ids())
    kept = stack.kakuri.kept_ids()
    for message_id, fate in expected.items():
        if message_id not in (mailbox if fate == "delivered" else kept):
            return False
    if stack.postfix.queue_count() or spool_entries(stack.kakuri):
        return False
    return not stack.kakuri.messages("queued")


def assert_trace_exact(stack, expected: dict[str, str], *, prefix: str, seed: int, kills: int) -> None:
    """`expected`: Message-ID (with <>) -> "delivered" or "quarantined", for every message Postfix accepted;
    all of them, and no other message of this test, start with `prefix`."""
    where = f"(seed {seed}, {kills} kills)"
    mailbox = Counter(stack.postfix.delivered_ids())
    copies = defaultdict(list)
    for message in stack.postfix.delivered():
        copies[message.get("Message-ID", "").strip()].append(message.get("X-Kakuri-Verdict", ""))
    rows = trace_rows(stack.kakuri)
    records: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        records[f"<{row['message_id']}>"][row["queue_id"]].append(row)
    problems = []
    for message_id, fate in sorted(expected.items()):
        in_mailbox = mailbox[message_id]
        if in_mailbox != (1 if fate == "delivered" else 0):
            problems.append(f"{message_id}: {in_mailbox} copies in the mailbox, expected {fate}")
        found = records.get(message_id, {})
        accepted = {q: r for q, r in found.items() if r[0]["state"] != "rejected"}
        if len(accepted) != 1:
            states = {q: [(x["state"], x["recipient_status"]) for x in r] for q, r in found.items()}
            problems.append(f"{message_id}: {len(accepted)} accepted records, expected 1: {states}")
            continue
        [(queue_id, recipient_rows)] = accepted.items()
        state = recipient_rows[0]["state"]
        statuses = {r["recipient_status"] for r in recipient_rows}
        if state != fate or not statuses <= set(FINAL_RECIPIENT[fate]):
            problems.append(f"{message_id}: record {queue_id} is {state} {sorted(statuses)}, expected {fate}")
        if fate == "delivered" and in_mailbox == 1 and f"id={queue_id}" not in copies[message_id][0]:
            problems.append(f"{message_id}: delivered copy says {copies[message_id][0]!r}, record is {queue_id}")
    stuck = [r for r in rows if r["state"] == "queued" or r["recipient_status"] in ("pending", "deferred")]
    problems += [f"{r['message_id']}: record {r['queue_id']} stuck {r['state']}/{r['recipient_status']}" for r in stuck]
    unexpected = set(mailbox) - set(expected)
    problems += [f"{m}: in the mailbox but never accepted by Postfix" for m in unexpected if m.startswith(prefix)]
    assert not problems, f"trace not exact {where}:\n" + "\n".join(problems)
