"""PPAP in the gateway: hold an encrypted archive nobody can open yet, until its password mail arrives.

Japanese business mail sends an encrypted zip and, minutes later, "パスワードのお知らせ" in a second
mail. Delivered at once the archive reaches people unscanned (Emotet used exactly that); so inbound
mail whose verdict would deliver or tag but that carries `ARCHIVE_ENCRYPTED_UNOPENED` is held (a
policy override, `ppap.wait_for_password`, which like every override only escalates: mail that is
malicious anyway is still quarantined). `PpapWatcher` then:

- registers the held message with `KnowledgeStore.hold_encrypted` (audited "waiting for archive
  password");
- for each later mail that would pass and states passwords, *before it is delivered*
  (`before_delivery`, called by the delivery runner): when `KnowledgeStore.pending_for` links it to a
  held message (same thread, or same sender to an overlapping audience), records it in its ledger and
  rescans the held message from the blob store; `ThreadPasswords` now offers the password. Opened and
  clean (deliver/tag): released (actor "ppap"), and the password mail goes on to delivery; opened and
  bad: the password mail is quarantined too (it is the other half of the attack and names the
  password), then the archive is moved to quarantine with the new verdict, each audited with the
  other's queue id (`detail["related"]`, linked on the console); still locked: stays held and the
  password mail is delivered;
- every `check_seconds`: gives up on messages held longer than `hold_seconds` (`on_timeout`:
  release with the tag, or quarantine), retries the ones whose thread now has passwords (a password
  mail scanned by another worker, node or before a restart), and adopts PPAP holds it did not make
  (the milter path, other nodes).

The watcher keeps its own `KnowledgeStore` and scanner in the gateway process, loaded only once a
message is held: the scan workers' ledgers learn other workers' mail seconds late, and a rescan must
see the password mail that triggered it. Order of the pair's records: the password mail's quarantine is committed first, the archive's
after it; a crash in between leaves the archive held with the password in the ledger, and the next
tick quarantines it (nothing is delivered in either order).
Blind spots: a password given by phone or in a mail that is not linked by thread or sender/audience
(the timeout decides); a password mail whose scan ends *before* its archive's is delivered: nothing
was held yet to link it to, and holding every mail that states a password would delay ordinary mail
(one right behind an archive already judged waits until that hold is registered: `_arriving`); when
its archive then opens malicious, both are audited with the other's queue id ("linked"), so the
delivered half can be recalled; the milter path accepts password mails at once (its
holds are adopted, so the archive half is still judged); several nodes may rescan the same message,
which is harmless (the second release finds it no longer held).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from kakuri.act.release import entry_from_record
from kakuri.decide.policy import Override
from kakuri.model import Action, Direction, Envelope
from kakuri.store.knowledge import PASSWORD_WINDOW_SECONDS
from kakuri.store.messages import AuditEvent, Message, MessageState, RecipientStatus, as_utc, utcnow

log = logging.getLogger(__name__)

WAIT_OVERRIDE = "ppap.wait_for_password"
LOCKED = "ARCHIVE_ENCRYPTED_UNOPENED"
ACTOR = "ppap"
PASSING = ("deliver", "tag")
PAIR_REASON = "ppap: states the password of held message"
ARRIVAL_WAIT_SECONDS = 10.0  # a password mail waits at most this long for an archive ahead of it to register


@dataclass(frozen=True)
class Rescan:
    """A held message rescanned with a new password, whose malicious verdict waits to be acted on."""

    key: str
    verdict: dict
    reason: str


class PpapConfig(BaseModel):
    """`[ppap]` in kakuri.toml."""

    model_config = ConfigDict(extra="forbid")
    hold_seconds: float = Field(1800.0, ge=0)  # 0: deliver (or tag) unopenable archives at once
    on_timeout: Literal["deliver", "quarantine"] = "deliver"  # deliver = release with the subject tag
    check_seconds: float = Field(10.0, gt=0)  # timeouts and late passwords are looked at this often

    @classmethod
    def from_settings(cls, settings) -> PpapConfig:
        return cls.model_validate(settings.section("ppap"))


def wait_override() -> Override:
    return Override(name=WAIT_OVERRIDE, when=LOCKED, action=Action.HOLD, directions=[Direction.INBOUND])


def with_ppap_policy(settings):
    """Settings whose policy holds unopenable inbound archives (unchanged when hold_seconds is 0)."""
    if PpapConfig.from_settings(settings).hold_seconds <= 0:
        return settings
    overrides = [o for o in settings.policy.overrides if o.name != WAIT_OVERRIDE]
    policy = settings.policy.model_copy(update={"overrides": [*overrides, wait_override()]})
    return settings.model_copy(update={"policy": policy})


def is_ppap_hold(verdict: dict) -> bool:
    """Held only because the archive waits for its password (not also by an emergency hold)."""
    reasons = verdict.get("reasons", [])
    ours = f"override {WAIT_OVERRIDE}: hold"
    others = [r for r in reasons if r.startswith("override ") and r.endswith(": hold") and r != ours]
    return verdict.get("action") == "hold" and ours in reasons and not others


class PpapWatcher:
    def __init__(self, *, settings, stores, spool, submit) -> None:
        self.settings, self.stores, self.spool, self.submit = settings, stores, spool, submit
        self.config = PpapConfig.from_settings(settings)
        self._lock = threading.Lock()  # the ledger index and the scanner are not thread-safe
        self._knowledge = None
        self._scanner = None
        self._emergency = None
        self._held: dict[str, float] = {}  # queue id -> when held (epoch)
        self._parsed: dict[str, tuple] = {}  # queue id -> (ParsedMessage, Envelope), parsed once
        self._tried: dict[str, tuple[str, ...]] = {}  # passwords a rescan already failed with
        # password mail queue id -> archives it opened that proved malicious, kept once its own quarantine
        # is recorded (`after_scan`); and the password mails already judged (no second look after delivery)
        self._pairs: dict[str, list[Rescan]] = {}
        self._judged: set[str] = set()
        self._arriving: dict[str, asyncio.Future] = {}  # PPAP holds decided but not yet registered
        self._tasks: set[asyncio.Task] = set()
        self._ticker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def enabled(self) -> bool:
        return self.config.hold_seconds > 0

    async def start(self) -> None:
        if not self.enabled:
            return
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._load_held)
        self._ticker = self._loop.create_task(self._tick_forever())

    async def stop(self) -> None:
        tasks = [t for t in (self._ticker, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- called by the delivery runner after a message's first scan --------------------------------
    def after_scan(self, entry, verdict: dict, headers: dict | None = None) -> None:
        """Never blocks delivery: the work (rare) runs as a task; most mail returns at the first test.

        `headers` is the scan's summary; its `passwords_stated` (absent in older spool entries: assume
        yes) spares re-parsing the many passing mails that state no password."""
        if not self.enabled:
            return
        if entry.queue_id in self._pairs:
            rescans = self._pairs.pop(entry.queue_id)
            self._spawn(asyncio.to_thread(self._guarded, self._keep_pair, entry.queue_id, rescans))
            return
        if entry.queue_id in self._judged:
            self._judged.discard(entry.queue_id)
            return
        if is_ppap_hold(verdict):
            task = self._spawn(asyncio.to_thread(self._guarded, self._on_held, entry.queue_id, entry.raw,
                                                 entry.envelope))
            task.add_done_callback(lambda _t, key=entry.queue_id: self._arrived(key))
        elif self._held and verdict.get("action") in PASSING and (headers or {}).get("passwords_stated", True):
            self._spawn(asyncio.to_thread(self._guarded, self._on_passed, entry.queue_id, entry.raw, entry.envelope))
        elif verdict.get("action") in ("quarantine", "reject") and _opened_elsewhere(verdict):
            self._spawn(asyncio.to_thread(self._guarded, self._link_earlier, entry.queue_id, verdict))

    async def before_delivery(self, entry, outcome):
        """The outcome to act on for a mail about to be delivered: quarantine instead when it states the
        password of a held archive that, opened with it, proves malicious. Other mail returns at once."""
        verdict = outcome.verdict
        if not self.enabled:
            return outcome
        if is_ppap_hold(verdict):  # until `after_scan` has registered it, password mails wait for it
            self._arriving.setdefault(entry.queue_id, asyncio.get_running_loop().create_future())
            return outcome
        if verdict.get("action") not in PASSING:
            return outcome
        if entry.queue_id not in self._pairs:  # already judged: a retried pass must not deliver it
            if not (self._held or self._arriving) or not (outcome.headers or {}).get("passwords_stated", True):
                return outcome
            if self._arriving:  # an archive just ahead of this mail is being recorded and registered
                _done, late = await asyncio.wait(list(self._arriving.values()), timeout=ARRIVAL_WAIT_SECONDS)
                for key in [k for k, waiting in self._arriving.items() if waiting in late]:
                    self._arrived(key)  # its record failed (retried later, then adopted): do not wait again
            await asyncio.to_thread(self._guarded, self._judge_password_mail, entry.queue_id, entry.raw,
                                    entry.envelope)
        rescans = self._pairs.get(entry.queue_id)
        if not rescans:
            return outcome
        keys = ", ".join(r.key for r in rescans)
        reason = f"{PAIR_REASON} {keys}, which opened with it and is quarantined"
        return replace(outcome, verdict={**verdict, "action": "quarantine", "reasons": [*verdict["reasons"], reason]})

    def _arrived(self, key: str) -> None:
        waiting = self._arriving.pop(key, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _guarded(self, work, *args) -> None:
        try:
            with self._lock:
                work(*args)
        except Exception:  # a PPAP failure leaves the message held; the timeout still decides
            log.exception("ppap: %s failed", work.__name__)

    # -- the work (in a thread, under the lock) -----------------------------------------------------
    def _on_held(self, queue_id: str, raw: bytes, envelope: Envelope) -> None:
        from kakuri.parse.mime import parse_message

        knowledge = self._ledger()
        parsed = parse_message(raw)
        knowledge.hold_encrypted(queue_id, parsed, envelope)
        self._held[queue_id] = time.time()
        self._parsed[queue_id] = (parsed, envelope)
        with self.stores.sessions() as session:
            detail = {"hold_seconds": self.config.hold_seconds, "on_timeout": self.config.on_timeout}
            reason = "waiting for archive password"
            session.add(AuditEvent(queue_id=queue_id, actor=ACTOR, event="held", reason=reason, detail=detail))
            session.commit()
        knowledge.refresh()  # the password mail may have been scanned first, by a worker that did not know
        self._retry(queue_id)

    def _judge_password_mail(self, queue_id: str, raw: bytes, envelope: Envelope) -> None:
        """Rescan the held archives this mail may hold the password for; keep the malicious ones for
        `after_scan` (the password mail's quarantine is recorded first), release the clean ones now."""
        from kakuri.parse.mime import parse_message
        from kakuri.store.knowledge import harvest_passwords

        parsed = parse_message(raw)
        if not harvest_passwords(parsed):
            return
        self._judged.add(queue_id)
        knowledge = self._ledger()
        knowledge.record(parsed, envelope)  # the rescan's ThreadPasswords must see it now
        trigger = parsed.message_id.strip() or queue_id
        bad = []
        for key in knowledge.pending_for(parsed, envelope):
            if key in self._held and key != queue_id:
                rescan = self._retry(key, f"password arrived in {trigger}", related=queue_id, defer_bad=True)
                if rescan is not None:
                    bad.append(rescan)
        if bad:
            self._pairs[queue_id] = bad

    def _keep_pair(self, queue_id: str, rescans: list[Rescan]) -> None:
        """The password mail is quarantined (recorded): now quarantine its archives, linked both ways."""
        with self.stores.sessions() as session:
            for rescan in rescans:
                message = session.get(Message, rescan.key)
                if message is not None and message.state == MessageState.HELD:
                    _set_verdict(message, rescan.verdict)
                    reasons = "; ".join(rescan.verdict["reasons"])
                    _keep(message, f"archive opened ({rescan.reason}): {reasons}"[:2000], related=queue_id)
                session.add(AuditEvent(
                    queue_id=queue_id, actor=ACTOR, event="quarantined", detail={"related": rescan.key},
                    reason=f"states the password of {rescan.key}, whose archive opened with it and is quarantined",
                ))
            session.commit()
        for rescan in rescans:
            self._forget(rescan.key)

    def _link_earlier(self, queue_id: str, verdict: dict) -> None:
        """A malicious archive opened with a password an *earlier* mail stated: that mail was delivered
        before anything could be linked to it; name each to the other (audit), so people can recall it."""
        from kakuri.store.knowledge_tables import LedgerMessage

        passwords = _opened_elsewhere(verdict)
        with self.stores.sessions() as session:
            archive = session.get(Message, queue_id)
            if archive is None:
                return
            stated = set()
            for password in passwords:
                pattern = "%" + json.dumps(password, ensure_ascii=False).replace("%", "\\%").replace("_", "\\_") + "%"
                rows = session.execute(select(LedgerMessage.message_id, LedgerMessage.sender).where(
                    LedgerMessage.passwords.like(pattern, escape="\\"))).all()
                stated |= {mid.strip().strip("<>") for mid, sender in rows if sender == (archive.mail_from or "").lower()
                           or sender == _header_sender(archive)}
            stated.discard(archive.message_id)
            if not stated:
                return
            window = timedelta(seconds=PASSWORD_WINDOW_SECONDS)
            for other in session.scalars(select(Message).where(Message.message_id.in_(stated))):
                if other.queue_id == queue_id or abs(as_utc(other.received_at) - as_utc(archive.received_at)) > window:
                    continue
                fate = "delivered before it" if other.state == MessageState.DELIVERED else f"now {other.state}"
                session.add(AuditEvent(queue_id=queue_id, actor=ACTOR, event="linked", detail={"related": other.queue_id},
                                       reason=f"opened with a password stated earlier in {other.queue_id} ({fate})"))
                session.add(AuditEvent(queue_id=other.queue_id, actor=ACTOR, event="linked", detail={"related": queue_id},
                                       reason=f"states the password of {queue_id}, whose archive opened with it and "
                                              f"is {archive.state}"))
            session.commit()

    def _on_passed(self, queue_id: str, raw: bytes, envelope: Envelope) -> None:
        from kakuri.parse.mime import parse_message
        from kakuri.store.knowledge import harvest_passwords

        parsed = parse_message(raw)
        if not harvest_passwords(parsed):
            return
        knowledge = self._ledger()
        knowledge.record(parsed, envelope)  # now, not when the worker's batch lands: the rescan needs it
        trigger = parsed.message_id.strip() or queue_id
        for key in knowledge.pending_for(parsed, envelope):
            if key in self._held and key != queue_id:
                self._retry(key, f"password arrived in {trigger}")

    def _retry(self, key: str, reason: str = "password arrived in a later mail of the thread", *,
               related: str | None = None, defer_bad: bool = False) -> Rescan | None:
        """Rescan when the ledger offers passwords this message was not yet tried with."""
        parsed, envelope = self._parsed_of(key)
        if parsed is None:
            return None
        passwords = tuple(self._ledger().thread_passwords(parsed, envelope))
        if passwords and passwords != self._tried.get(key):
            self._tried[key] = passwords
            return self._rescan(key, reason, related=related, defer_bad=defer_bad)
        return None

    def _rescan(self, key: str, reason: str, *, related: str | None = None, defer_bad: bool = False) -> Rescan | None:
        """Rescan a held message and act on the new verdict; with `defer_bad`, a malicious verdict is
        returned instead of acted on (the caller quarantines the password mail first)."""
        with self.stores.sessions() as session:
            message = session.get(Message, key)
            if message is None or message.state != MessageState.HELD:
                return self._forget(key)  # released or deleted by someone meanwhile
            raw = self.stores.blobs.get(message.blob_sha256)
            envelope = entry_from_record(message, raw, origin="release").envelope
            verdict = self._scan(raw, envelope)
            if LOCKED in verdict["symbols"]:
                log.info("ppap: %s still does not open", key)
                return None
            if verdict["action"] in ("quarantine", "reject") and defer_bad:
                return Rescan(key, verdict, reason)
            _set_verdict(message, verdict)
            if verdict["action"] in ("quarantine", "reject"):
                _keep(message, f"archive opened ({reason}): {'; '.join(verdict['reasons'])}"[:2000], related=related)
                session.commit()
                if related is None:  # opened by a password already in the ledger: name the mail that stated it
                    self._link_earlier(key, verdict)
            elif verdict["action"] == "hold":  # an emergency hold applies too: people release it
                message.audit.append(AuditEvent(actor=ACTOR, event="rescanned", reason=f"archive opened ({reason})",
                                                detail={"related": related} if related else {}))
                session.commit()
            else:
                self._resume(session, message, raw, reason, related=related)
        self._forget(key)
        return None

    def _timeout(self, key: str) -> None:
        reason = f"no password within {self.config.hold_seconds:g} s"
        with self.stores.sessions() as session:
            message = session.get(Message, key)
            if message is None or message.state != MessageState.HELD:
                return self._forget(key)
            if self.config.on_timeout == "quarantine":
                _keep(message, reason)
                session.commit()
            else:
                message.action = "tag"  # delivered unscanned: the subject says so
                self._resume(session, message, self.stores.blobs.get(message.blob_sha256), reason)
        self._forget(key)

    def _resume(self, session, message: Message, raw: bytes, reason: str, related: str | None = None) -> None:
        """Deliver a message the gateway itself held, under its (new) verdict.

        Not `act.release.release_message`: that marks a person's release ("released ..." verdict
        header, no subject tag), while this is the gateway finishing its own decision, so a `tag`
        verdict must tag. Same crash order: records first (recipients pending), then the spool
        entry; a message left pending without an entry is re-injected by the delivery runner."""
        for rcpt in message.recipients:
            if rcpt.status == RecipientStatus.HELD:
                rcpt.status, rcpt.next_attempt_at = RecipientStatus.PENDING, None
        message.state, message.finished_at = MessageState.QUEUED, None
        message.audit.append(AuditEvent(actor=ACTOR, event="released", reason=reason,
                                        detail={"related": related} if related else {}))
        session.commit()
        self.spool.write(entry_from_record(message, raw, origin="release"))
        self._loop.call_soon_threadsafe(self.submit, message.queue_id)  # we run in a thread; the queue is the loop's

    def _forget(self, key: str) -> None:
        if self._knowledge is not None:
            self._knowledge.release_pending(key)
        self._held.pop(key, None)
        self._parsed.pop(key, None)
        self._tried.pop(key, None)

    # -- periodic ---------------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.check_seconds)
            await asyncio.to_thread(self._guarded, self._tick)

    def _tick(self) -> None:
        self._adopt()
        if not self._held:
            return
        self._ledger().refresh()
        now = time.time()
        for key, held_at in list(self._held.items()):
            if now - held_at >= self.config.hold_seconds:
                self._timeout(key)
            else:
                self._retry(key)

    def _load_held(self) -> None:
        from kakuri.store.knowledge_tables import PendingArchiveRow

        with self.stores.sessions() as session:
            self._held.update(session.execute(select(PendingArchiveRow.key, PendingArchiveRow.held_at)).all())

    def _adopt(self) -> None:
        """PPAP holds registered nowhere (the milter path, another node, a crash before registration)."""
        from kakuri.parse.mime import parse_message

        since = utcnow() - timedelta(seconds=self.config.hold_seconds)
        with self.stores.sessions() as session:
            # Columns only: during an outbreak thousands of messages may be held by emergency switches.
            candidates = session.execute(
                select(Message.queue_id, Message.reasons).where(
                    Message.state == MessageState.HELD, Message.action == "hold", Message.received_at >= since
                )
            ).all()
            for queue_id, reasons in candidates:
                if queue_id in self._held or not is_ppap_hold({"action": "hold", "reasons": reasons or []}):
                    continue
                message = session.get(Message, queue_id)
                raw = self.stores.blobs.get(message.blob_sha256)
                envelope = entry_from_record(message, raw, origin="release").envelope
                parsed = parse_message(raw)
                self._ledger().hold_encrypted(queue_id, parsed, envelope)
                self._held[queue_id] = as_utc(message.received_at).timestamp()
                self._parsed[queue_id] = (parsed, envelope)

    # -- lazily built, in the gateway process ------------------------------------------------------
    def _ledger(self):
        if self._knowledge is None:
            from kakuri.store.knowledge import open_knowledge

            self._knowledge = open_knowledge(self.stores.engine, self.settings.org.our_domains)
        return self._knowledge

    def _scan(self, raw: bytes, envelope: Envelope) -> dict:
        if self._scanner is None:
            from kakuri.respond.emergency import EmergencySwitch
            from kakuri.wiring import build_scanner

            self._scanner = build_scanner(self.settings, knowledge=self._ledger())
            self._emergency = EmergencySwitch(self.stores.sessions)
        return self._scanner.scan(raw, envelope, overrides=self._emergency.overrides()).verdict.as_dict()

    def _parsed_of(self, key: str):
        if key not in self._parsed:
            from kakuri.parse.mime import parse_message

            with self.stores.sessions() as session:
                message = session.get(Message, key)
                if message is None or not message.blob_sha256:
                    return None, None
                raw = self.stores.blobs.get(message.blob_sha256)
                self._parsed[key] = (parse_message(raw), entry_from_record(message, raw, origin="release").envelope)
        return self._parsed[key]


def _opened_elsewhere(verdict: dict) -> list[str]:
    """Passwords that opened an archive of this message and came from another mail (the thread's)."""
    return [str(f["evidence"]["password"]) for f in verdict.get("findings", [])
            if isinstance(f, dict) and f.get("symbol") == "ARCHIVE_ENCRYPTED" and (f.get("evidence") or {}).get("password")]


def _header_sender(message: Message) -> str:
    from email.utils import parseaddr

    return parseaddr(message.from_header or "")[1].lower()


def _verdict_of(message: Message) -> dict:
    return {"action": message.action, "reasons": list(message.reasons or [])}


def _set_verdict(message: Message, verdict: dict) -> None:
    message.action, message.score = verdict["action"], verdict.get("score", 0.0)
    message.reasons, message.symbols = list(verdict["reasons"]), list(verdict["symbols"])
    message.findings = list(verdict["findings"])
    message.scanned_at = utcnow()


def _keep(message: Message, reason: str, related: str | None = None) -> None:
    for rcpt in message.recipients:
        if rcpt.status == RecipientStatus.HELD:
            rcpt.status = RecipientStatus.QUARANTINED
    message.state, message.finished_at = MessageState.QUARANTINED, utcnow()
    message.audit.append(AuditEvent(actor=ACTOR, event="quarantined", reason=reason,
                                    detail={"related": related} if related else {}))
