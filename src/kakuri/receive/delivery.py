"""The spool runner: scan what the SMTP reply did not, record, deliver with retries, bounce, clean up.

Each spool entry goes through `process` as many times as needed; every step is idempotent, so a
restart simply processes every entry again:

1. ingest   - the message row exists (created with its verdict, kept copies stored as blobs first);
2. deliver  - recipients that are due get one SMTP transaction; each answer is committed right away;
3. finish   - when no recipient waits: DSN to the sender for bounced ones, then the entry is removed.

At-least-once gap: a crash after the next hop's 250 and before step 2's commit (a few
milliseconds: the commit is the first thing done with the answer, before QUIT) makes us deliver that
message again after restart. Nothing can close it without the next hop's help; everything else is
exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kakuri.act.bounce import build_dsn
from kakuri.act.dispose import OWN_MAIL_VERDICT, outgoing_bytes
from kakuri.act.release import entry_from_record
from kakuri.model.envelope import Direction, Envelope
from kakuri.receive.config import DeliveryConfig
from kakuri.receive.dbwriter import BatchWriter
from kakuri.receive.relay import Reply, Transport
from kakuri.receive.replay import SENT_IN_FULL, ReplyNotes, Resends, noted_results, watching_data
from kakuri.receive.scanning import ScanOutcome, ScanPool
from kakuri.receive.spool import Spool, SpoolEntry
from kakuri.store import counts, mailflow
from kakuri.store.config import Stores
from kakuri.store.messages import Message, MessageState, RecipientStatus, as_utc, utcnow

log = logging.getLogger(__name__)

KEEP_COPY = ("quarantine", "hold", "reject")  # actions whose raw message we store for review
DELIVER_FIRST = ("deliver", "tag")  # actions whose first delivery attempt precedes the record
SCAN_RETRY_SECONDS = 30.0
ORPHAN_CHECK_POLLS = 5  # every 5th spool poll also looks for releases made without the gateway
FOLD_COUNTS_POLLS = 30  # about once a minute the dashboard's count deltas are folded (store/counts.py)
MAX_SCAN_FAILURES = 3  # then the message is quarantined: a poison message must not block the queue


class LostEntry(Exception):
    """The shared spool's entry is owned by another node now (receive/shared_spool.py): stop, do not retry."""


class DeliveryQueue:
    def __init__(
        self,
        *,
        spool: Spool,
        stores: Stores,
        scans: ScanPool,
        transport: Transport,
        config: DeliveryConfig,
        hostname: str,
        poll_seconds: float = 2.0,
    ) -> None:
        self.spool, self.stores, self.scans, self.transport = spool, stores, scans, transport
        self.config, self.hostname, self.poll_seconds = config, hostname, poll_seconds
        self.inflight_scans: dict[str, asyncio.Future] = {}  # scans the SMTP reply stopped waiting for
        self.writer: BatchWriter | None = None  # group commit of every message's records (started by start)
        # Entries the SMTP handler has just spooled, handed over in memory: their first pass neither
        # reads the file back nor asks the database (a queue id made by this process has no row yet).
        self._fresh: dict[str, SpoolEntry] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._again: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._scan_failures: dict[str, int] = {}
        self._tasks: list[asyncio.Task] = []
        self.ppap = None  # PpapWatcher (receive/ppap.py), set by the gateway: holds archives for their password
        self.retention = None  # store.retention.Retention, set by the gateway: copies of delivered mail
        # Folder spool: what a kill -9 left half-done (receive/replay.py); None on the shared spool.
        self.notes: ReplyNotes | None = None
        self.resends: Resends | None = None

    # -- running ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self.writer = BatchWriter(self.stores)
        if isinstance(self.spool, Spool):
            await asyncio.to_thread(self._open_replay)
        await asyncio.to_thread(self._reinject_orphans)
        for queue_id in self.spool.queue_ids():
            self.submit(queue_id)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self.config.concurrency)]
        self._tasks.append(loop.create_task(self._poll()))

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        close = getattr(self.transport, "close", None)  # kept SMTP connections
        if close is not None:
            await close()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)

    def submit_new(self, entry: SpoolEntry) -> None:
        """An entry this process has just spooled under a queue id it made (no database row can exist)."""
        self._fresh[entry.queue_id] = entry
        self.submit(entry.queue_id)

    def submit(self, queue_id: str) -> None:
        if queue_id in self._active:
            self._again.add(queue_id)
        elif queue_id not in self._queued:
            self._queued.add(queue_id)
            self._queue.put_nowait(queue_id)

    def _submit_later(self, queue_id: str, delay: float) -> None:
        old = self._timers.pop(queue_id, None)
        if old:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[queue_id] = loop.call_later(max(delay, 0.0), self._fire, queue_id)

    def _fire(self, queue_id: str) -> None:
        self._timers.pop(queue_id, None)
        self.submit(queue_id)

    async def _work(self) -> None:
        while True:
            queue_id = await self._queue.get()
            self._queued.discard(queue_id)
            self._active.add(queue_id)
            try:
                await self.process(queue_id)
            except asyncio.CancelledError:
                raise
            except LostEntry:  # cluster: another node owns it now and finishes it
                log.warning("%s was taken over by another node; left to it", queue_id)
                self._fresh.pop(queue_id, None)
            except Exception:  # the entry stays in the spool; try again later rather than lose it
                log.exception("processing %s failed; retrying in %ss", queue_id, SCAN_RETRY_SECONDS)
                self._submit_later(queue_id, SCAN_RETRY_SECONDS)
            finally:
                self._active.discard(queue_id)
                if queue_id in self._again:
                    self._again.discard(queue_id)
                    self.submit(queue_id)

    async def _poll(self) -> None:
        polls = 0
        while True:
            await asyncio.sleep(self.poll_seconds)
            polls += 1
            if polls % ORPHAN_CHECK_POLLS == 0:
                await asyncio.to_thread(self._reinject_orphans)
            if polls % FOLD_COUNTS_POLLS == 0:  # else the backlog waits for the next dashboard view
                await asyncio.to_thread(self._fold_counts)
            for queue_id in await asyncio.to_thread(self.spool.refresh):  # on the shared spool: the claim query
                self.submit(queue_id)

    def _fold_counts(self) -> None:
        try:
            with self.stores.writing(), self.stores.sessions() as session:
                counts.fold(session)  # one folder at a time across nodes; a busy one is skipped
        except Exception:  # the dashboard folds too; a failed fold only leaves deltas for later
            log.exception("folding the dashboard counts failed")

    # -- one entry -------------------------------------------------------------------------------
    async def process(self, queue_id: str) -> None:
        entry = self._fresh.pop(queue_id, None)
        known_new = entry is not None  # made by our SMTP handler in this run: no row can exist yet
        if entry is None:
            try:
                entry = await asyncio.to_thread(self.spool.read, queue_id)  # a query on the shared spool
            except FileNotFoundError:
                return
            except (ValueError, KeyError, UnicodeDecodeError):
                log.error("spool entry %s is unreadable; moved to %s", queue_id, self.spool.quarantine_dir)
                self.spool.set_aside(queue_id)
                return
            message = await asyncio.to_thread(self._load, queue_id)
            message = await self._record_noted(entry, message)
        else:
            message = None
        if message is None:
            outcome = await self._verdict_for(entry)
            if outcome is None:
                return
            if self.ppap is not None:  # a password mail waits for its held archive's rescan (receive/ppap.py)
                outcome = await self.ppap.before_delivery(entry, outcome)
            self.spool.mark_started(queue_id)
            if outcome.verdict["action"] in DELIVER_FIRST:
                # Nothing to keep: deliver, then record message and attempt in one commit. A crash in
                # between replays the entry, which is the same at-least-once gap as any delivery.
                unrecorded = _Unrecorded.of(entry, outcome)
                due = list(_rcpt_directions(entry))  # every recipient of a deliver/tag verdict is pending
                message = await self._deliver(entry, unrecorded, due, outcome=outcome, known_new=known_new)
            else:
                message = await self._ingest(entry, outcome, known_new=known_new)
            if self.ppap is not None:
                self.ppap.after_scan(entry, outcome.verdict, outcome.headers)
        self.spool.mark_started(queue_id)
        due = _due(message)
        if due:
            message = await self._deliver(entry, message, due)
        waiting = mailflow.waiting_recipients(message)
        if waiting:
            next_at = min(as_utc(r.next_attempt_at) or utcnow() for r in waiting)
            self._submit_later(queue_id, (next_at - utcnow()).total_seconds())
            return
        await self._finish(entry, message)

    def _load(self, queue_id: str) -> Message | None:
        with self.stores.sessions() as session:
            return session.get(Message, queue_id)

    async def _verdict_for(self, entry: SpoolEntry) -> ScanOutcome | None:
        if entry.verdict is not None:
            headers = entry.verdict.get("headers", {})
            return ScanOutcome(verdict=entry.verdict, headers=headers)
        pending = self.inflight_scans.pop(entry.queue_id, None)
        try:
            return await (pending if pending is not None else self.scans.scan(entry.raw, entry.envelope))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures = self._scan_failures[entry.queue_id] = self._scan_failures.get(entry.queue_id, 0) + 1
            log.error("scanning %s failed (%s): %s", entry.queue_id, failures, exc)
            if isinstance(exc, BrokenProcessPool):
                self.scans.restart()
            if failures < MAX_SCAN_FAILURES:
                self._submit_later(entry.queue_id, SCAN_RETRY_SECONDS)
                return None
            self._scan_failures.pop(entry.queue_id, None)
            verdict = {**OWN_MAIL_VERDICT, "action": "quarantine", "reasons": [f"scan failed: {type(exc).__name__}"]}
            return ScanOutcome(verdict=verdict, headers={})

    async def _ingest(self, entry: SpoolEntry, outcome: ScanOutcome, results=None, known_new=False) -> Message:
        blob = None
        if outcome.verdict["action"] in KEEP_COPY:  # the copy is durable before the row that points to it
            blob = await asyncio.to_thread(self.stores.blobs.put, entry.raw)
        fields = self._fields(entry, outcome, blob=blob)
        retained = None  # a copy of mail that reaches mailboxes, for the retro-scan (store/retention.py)
        retention = self.retention
        if (retention is not None and outcome.verdict["action"] in DELIVER_FIRST
                and retention.wants(direction=str(entry.envelope.direction), size=len(entry.raw))):
            retained = await asyncio.to_thread(retention.keep, entry.raw)

        def write(session):
            message = mailflow.record_accepted(session, **fields, results=results, commit=False, known_new=known_new)
            if retained is not None:
                retention.record(session, queue_id=entry.queue_id, key=retained, size=len(entry.raw),
                                 items=outcome.headers.get("retro_items"))
            return message

        return await self.writer.run(write)

    def _fields(self, entry: SpoolEntry, outcome: ScanOutcome, *, blob: str | None) -> dict:
        return outcome.record_fields(
            queue_id=entry.queue_id,
            envelope=entry.envelope,
            rcpt_directions=_rcpt_directions(entry),
            raw=entry.raw,
            received_at=datetime.fromtimestamp(entry.received_at, UTC),
            origin=entry.origin,
            blob=blob,
        )

    async def _deliver(
        self,
        entry: SpoolEntry,
        message: Message,
        due: list[str],
        outcome: ScanOutcome | None = None,
        known_new: bool = False,
    ) -> Message:
        data = outgoing_bytes(entry.raw, message=message, hostname=self.hostname, subject_tag=self.config.subject_tag)
        # cluster: on the shared spool another node may have taken the entry over (we stalled past the
        # lease); holding the fence until the result is recorded keeps it from taking it over mid-way.
        async with self.spool.fence(entry.queue_id) as ours:
            if not ours:
                raise LostEntry(entry.queue_id)
            attempts = {r.address: r.attempts for r in message.recipients}
            with self._noting(entry, due, attempts, outcome):
                replies = await self.transport.deliver(mail_from=entry.envelope.mail_from, rcpt_tos=due, data=data)
            results = {rcpt: self._outcome(reply, attempts.get(rcpt, 0) + 1, entry) for rcpt, reply in replies.items()}
            if self.notes is not None and (not self.config.next_hop_commits_on_dot
                                           or any(r[0] is not RecipientStatus.DELIVERED for r in results.values())):
                self._note(entry, results, attempts, outcome)  # before any await; overrides "sent in full"
            if outcome is not None:  # not recorded yet (delivered first)
                return await self._ingest(entry, outcome, results, known_new=known_new)
            queue_id = entry.queue_id
            return await self.writer.run(
                lambda session: mailflow.record_attempt(session, queue_id=queue_id, results=results, commit=False)
            )

    def _noting(self, entry: SpoolEntry, due: list[str], attempts: dict[str, int], outcome: ScanOutcome | None):
        """While delivering: note "sent in full" the moment the dot is out (receive/replay.py). The note for
        every due recipient is made beforehand, so only its write stands between the dot and the note."""
        if self.notes is None or not self.config.next_hop_commits_on_dot:
            return contextlib.nullcontext()
        sent = (RecipientStatus.DELIVERED, SENT_IN_FULL, None)
        ready = self.notes.prepare(
            results={r: sent for r in due}, attempts={r: attempts.get(r, 0) + 1 for r in due},
            verdict=outcome.verdict if outcome else None, headers=outcome.headers if outcome else None,
        )

        def on_sent(rcpts: list[str]) -> None:
            if set(rcpts) == set(due):
                self.notes.put(entry.queue_id, ready)
            else:  # the next hop refused some recipients at RCPT
                self._note(entry, {r: sent for r in rcpts}, attempts, outcome)

        return watching_data(on_sent)

    def _note(self, entry: SpoolEntry, results, attempts: dict[str, int], outcome: ScanOutcome | None) -> None:
        self.notes.write(entry.queue_id, results=results, attempts={r: attempts.get(r, 0) + 1 for r in results},
                         verdict=outcome.verdict if outcome else None, headers=outcome.headers if outcome else None)

    def _outcome(self, reply: Reply, attempts: int, entry: SpoolEntry):
        if reply.is_success:
            return RecipientStatus.DELIVERED, str(reply), None
        if reply.is_permanent:
            return RecipientStatus.BOUNCED, str(reply), None
        if time.time() - entry.received_at > self.config.max_age_seconds:
            return RecipientStatus.BOUNCED, f"gave up after {attempts} attempts: {reply}", None
        next_at = utcnow() + timedelta(seconds=self.config.retry_delay(attempts))
        return RecipientStatus.DEFERRED, str(reply), next_at

    async def _finish(self, entry: SpoolEntry, message: Message) -> None:
        bounced = mailflow.bounced_recipients(message)
        if bounced and self.config.bounce and entry.envelope.mail_from and entry.origin != "dsn":
            dsn_id = await asyncio.to_thread(self._write_dsn, entry, [(r.address, r.last_reply) for r in bounced])
            if dsn_id:
                self.submit(dsn_id)
        if entry.origin == "release" and self.retention is not None:  # released mail reaches mailboxes too
            await self._retain_released(entry, message)
        # Off the event loop: unlinking a 50 kB file costs the kernel ~0.1 ms, every message.
        await asyncio.to_thread(self.spool.remove, entry.queue_id)
        if self.notes is not None:
            self.notes.remove(entry.queue_id)
        self._scan_failures.pop(entry.queue_id, None)

    async def _retain_released(self, entry: SpoolEntry, message: Message) -> None:
        """A copy for the retro-scan (store/retention.py), as for mail delivered at once; no features: the
        first retro-scan parses it, since the scan that let it through was a person's release."""
        retention = self.retention
        if not retention.wants(direction=str(entry.envelope.direction), size=len(entry.raw)):
            return
        if not any(r.status == RecipientStatus.DELIVERED for r in message.recipients):
            return
        key = await asyncio.to_thread(retention.keep, entry.raw)
        await self.writer.run(lambda session: retention.record(session, queue_id=entry.queue_id, key=key,
                                                               size=len(entry.raw)))

    def _write_dsn(self, entry: SpoolEntry, failures: list[tuple[str, str]]) -> str | None:
        dsn_id = f"{entry.queue_id}-dsn"  # one per message, so a replay never sends a second one
        if self.spool.exists(dsn_id) or self._load(dsn_id) is not None:
            return None
        raw = build_dsn(
            hostname=self.hostname,
            original=entry.raw,
            mail_from=entry.envelope.mail_from,
            queue_id=entry.queue_id,
            failures=failures,
        )
        to_us = entry.envelope.direction is not Direction.INBOUND
        envelope = Envelope(mail_from="", rcpt_tos=(entry.envelope.mail_from,), direction=Direction.INTERNAL)
        self.spool.write(
            SpoolEntry(
                queue_id=dsn_id,
                envelope=envelope,
                raw=raw,
                received_at=time.time(),
                rcpt_directions={entry.envelope.mail_from: "internal" if to_us else "outbound"},
                verdict=OWN_MAIL_VERDICT,
                origin="dsn",
            )
        )
        return dsn_id

    def _open_replay(self) -> None:
        self.notes = ReplyNotes(self.spool.root / "replies")
        self.resends = Resends(self.notes.root / "resends.json")
        left = []
        for queue_id in self.spool.queue_ids():
            try:
                entry = self.spool.read(queue_id)
            except (OSError, ValueError, KeyError, UnicodeDecodeError):
                continue  # process() sets unreadable entries aside
            if entry.origin == "smtp":
                left.append((queue_id, entry.envelope, entry.raw))
        self.resends.load_and_add(left)

    async def _record_noted(self, entry: SpoolEntry, message: Message | None) -> Message | None:
        """An answer the next hop gave before a kill, not yet in the database: record it, do not deliver again."""
        note = self.notes.read(entry.queue_id) if self.notes is not None else None
        if note is None:
            return message
        recorded = {r.address: r.attempts for r in message.recipients} if message is not None else {}
        results = noted_results(note, recorded)
        if not results:
            return message
        log.info("%s: recording the next hop's answer noted before a restart (not delivering again)", entry.queue_id)
        if message is None:  # delivered first, killed before the record
            if note["verdict"] is None:
                return None
            return await self._ingest(entry, ScanOutcome(verdict=note["verdict"], headers=note["headers"]), results)
        queue_id = entry.queue_id
        return await self.writer.run(
            lambda session: mailflow.record_attempt(session, queue_id=queue_id, results=results, commit=False)
        )

    def _reinject_orphans(self) -> None:
        """Waiting messages without a spool entry (a release that crashed half-way, or one made by a
        process without a spool, such as a console on another machine) go back into the spool."""
        with self.stores.sessions() as session:
            for message in mailflow.messages_waiting(session):
                if message.queue_id in self._active or self.spool.exists(message.queue_id) or not message.blob_sha256:
                    continue
                try:
                    raw = self.stores.blobs.get(message.blob_sha256)
                except KeyError:
                    log.error("%s waits for delivery but its stored copy is missing", message.queue_id)
                    continue
                self.spool.write(entry_from_record(message, raw, origin="release"))


@dataclass(frozen=True)
class _Unrecorded:
    """What the delivered copy's headers need of a message delivered before its row exists (the
    fields `outgoing_bytes` reads, as `mailflow.new_message` sets them), without building the ORM
    objects in the event loop: the group commit builds them once, with the delivery's result."""

    queue_id: str
    action: str
    score: float
    symbols: list
    helo: str
    client_ip: str
    state: str = MessageState.QUEUED
    recipients: tuple = ()

    @classmethod
    def of(cls, entry: SpoolEntry, outcome: ScanOutcome) -> _Unrecorded:
        verdict, envelope = outcome.verdict, entry.envelope
        return cls(queue_id=entry.queue_id, action=verdict["action"], score=verdict.get("score", 0.0),
                   symbols=list(verdict.get("symbols", [])), helo=(envelope.helo or "")[:255],
                   client_ip=envelope.client_ip or "")


def _rcpt_directions(entry: SpoolEntry) -> dict[str, str]:
    default = entry.envelope.direction.value
    return {r: entry.rcpt_directions.get(r, default) for r in dict.fromkeys(entry.envelope.rcpt_tos)}


def _due(message: Message) -> list[str]:
    now = utcnow()
    return [
        r.address
        for r in message.recipients
        if r.status == RecipientStatus.PENDING
        or (r.status == RecipientStatus.DEFERRED and (as_utc(r.next_attempt_at) or now) <= now)
    ]
