"""What a gateway killed mid-way (kill -9, power kept) leaves for its restart, so that replaying the spool
repeats nothing the next hop or the client already has: the trace stays exact and no mailbox gets a copy
twice. Two windows that no database commit can close, each with its own small record:

- `ReplyNotes` - the next hop's answer. Mail that is delivered at once is recorded only after the next
  hop's 250 (one group commit for message and attempt); a kill before that commit used to replay the
  entry and deliver it a second time. The next hop (Postfix's re-injection listener) queues a message as
  soon as it has the final dot, whether or not we are still alive to read its 250, so the moment that
  counts is the write of the dot: right after that write reaches the socket (`final_dot_written`, called
  by the SMTP client, no await in between) a small file `<spool>/replies/<queue id>.json` says "sent in
  full to these recipients" (with the verdict it went out under); an answer other than 250 overwrites it
  with the answers. The runner records a noted delivery instead of delivering again. No fsync: a killed
  process's writes are in the page cache; only a power cut loses them (then the old at-least-once replay
  happens). The one assumption: a next hop that had the whole message does not refuse it in the
  milliseconds in which we were killed (Postfix refuses after the dot only on a queue-file write error).
- `Resends` - our own 250. The spool entry is durable before we answer 250; a kill between the two leaves
  an entry whose client never heard the 250 and sends the same transaction again (Postfix logs "lost
  connection ... while sending end of data -- message may be sent more than once"). At start, every entry
  left in the spool is remembered by a digest of envelope and bytes (`<spool>/replies/resends.json`, kept
  for a day across restarts); an identical transaction is then answered "250 queued as <first id>" and not
  spooled again. Identical bytes from Postfix include its Received line with its own queue id, so two
  different messages never match; from a direct client, identical bytes and envelope are that client's
  resend of the message whose 250 it missed.

What is left: a kill between the system call that sends the dot and the note's write (microseconds) still
delivers that message again; a message larger than the socket's buffer (its dot leaves later) is not noted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kakuri.model.envelope import Envelope
from kakuri.store.messages import RecipientStatus

log = logging.getLogger(__name__)

RESEND_KEEP_SECONDS = 24 * 3600  # Postfix retries a deferred message within maximal_backoff_time (4000 s)
MAX_RESENDS = 100_000

Results = dict[str, tuple[RecipientStatus, str, datetime | None]]


class ReplyNotes:
    """One small file per spool entry with the last delivery attempt's answers, until the entry is done."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, queue_id: str) -> Path:
        return self.root / f"{queue_id}.json"

    def write(self, queue_id: str, *, results: Results, attempts: dict[str, int], verdict: dict | None,
              headers: dict | None) -> None:
        """Called before any await once the dot is sent ("sent in full", DELIVERED) or an answer other than
        250 is in: a kill from here on is replayed from this note, not delivered again. `attempts`: the
        attempt number this note is about, per recipient."""
        self.put(queue_id, self.prepare(results=results, attempts=attempts, verdict=verdict, headers=headers))

    @staticmethod
    def prepare(*, results: Results, attempts: dict[str, int], verdict: dict | None, headers: dict | None) -> bytes:
        """The note's bytes, made before the dot is sent: at the dot only `put` is left (two system calls)."""
        note = {
            "results": {r: [str(s), reply, at.isoformat() if at else None, attempts.get(r, 1)]
                        for r, (s, reply, at) in results.items()},
            "verdict": verdict,
            "headers": headers,
        }
        return json.dumps(note).encode()

    def put(self, queue_id: str, data: bytes) -> None:
        # One write of a few kB: a killed process leaves all of it or (killed before it) an empty file,
        # which `read` treats as no note (the entry is delivered again, never lost).
        fd = os.open(self._path(queue_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def read(self, queue_id: str) -> dict | None:
        try:
            return json.loads(self._path(queue_id).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            log.error("reply note of %s is unreadable; the entry is delivered again", queue_id)
            return None

    def remove(self, queue_id: str) -> None:
        self._path(queue_id).unlink(missing_ok=True)


SENT_IN_FULL = "250 (assumed) sent in full; kakuri was stopped before it read the next hop's answer"


@dataclass
class _InFlight:
    on_sent: Callable[[list[str]], None]
    rcpts: list[str] = field(default_factory=list)


_IN_FLIGHT: ContextVar[_InFlight | None] = ContextVar("kakuri_delivery_in_flight", default=None)


@contextmanager
def watching_data(on_sent: Callable[[list[str]], None]) -> Iterator[None]:
    """Around one delivery: `on_sent(recipients)` is called when the final dot has reached the socket."""
    token = _IN_FLIGHT.set(_InFlight(on_sent))
    try:
        yield
    finally:
        _IN_FLIGHT.reset(token)


def data_recipients(rcpts: list[str]) -> None:
    """The SMTP relay, before DATA: the recipients the next hop accepted, whom the dot delivers to."""
    flight = _IN_FLIGHT.get()
    if flight is not None:
        flight.rcpts = list(rcpts)


def final_dot_written(transport) -> None:
    """The SMTP client, right after writing the message and its dot (no await in between)."""
    flight = _IN_FLIGHT.get()
    if flight is None or not flight.rcpts or transport is None or transport.get_write_buffer_size():
        return  # not watched, or part of the message still waits in our buffer: nothing is sure yet
    try:
        flight.on_sent(flight.rcpts)
    except OSError:  # the note is an optimisation of the replay; the delivery itself goes on
        log.exception("cannot note a sent message; a restart would deliver it again")


def noted_results(note: dict, recorded_attempts: dict[str, int]) -> Results:
    """The noted answers the database does not have yet (an attempt later than the recorded ones)."""
    out: Results = {}
    for rcpt, (status, reply, at, attempts) in note["results"].items():
        if attempts > recorded_attempts.get(rcpt, 0):
            out[rcpt] = (RecipientStatus(status), reply, datetime.fromisoformat(at) if at else None)
    return out


def digest(envelope: Envelope, raw: bytes) -> str:
    h = hashlib.sha256()
    h.update(envelope.mail_from.encode("utf-8", "surrogateescape") + b"\0")
    for rcpt in envelope.rcpt_tos:
        h.update(rcpt.encode("utf-8", "surrogateescape") + b"\0")
    h.update(raw)
    return h.hexdigest()


class Resends:
    """Digests of the transactions a previous run may have spooled without its 250 reaching the client."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._known: dict[str, tuple[str, float]] = {}  # digest -> (queue id, when first seen)

    def load_and_add(self, left: list[tuple[str, Envelope, bytes]]) -> None:
        """At start: the digests kept by earlier runs, plus those of the entries the last run left."""
        now = time.time()
        try:
            kept = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            kept = {}
        self._known = {d: (q, t) for d, (q, t) in kept.items() if now - t < RESEND_KEEP_SECONDS}
        for queue_id, envelope, raw in left:
            self._known.setdefault(digest(envelope, raw), (queue_id, now))
        if len(self._known) > MAX_RESENDS:
            newest = sorted(self._known.items(), key=lambda item: item[1][1])[-MAX_RESENDS:]
            self._known = dict(newest)
        if self._known or kept:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._known))
            os.replace(tmp, self.path)

    def first_id(self, envelope: Envelope, raw: bytes) -> str | None:
        """The queue id this transaction already has, if it is a resend of one a previous run spooled."""
        if not self._known:  # the usual case: nothing was left behind, nothing to hash
            return None
        found = self._known.get(digest(envelope, raw))
        return found[0] if found else None
