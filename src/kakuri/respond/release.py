"""All-clear: release (or bounce) held and quarantined mail in bulk, chosen by a filter.

Each message goes through the same audited path as a single release (`act.release.release_message`:
records first, then a spool entry the running gateway delivers), so a bulk release that dies half-way
leaves every message either released or still kept, never lost or doubled; running it again picks up
the rest. Bounce is for held mail only (an emergency hold, not a detection): the recipients become
bounced, and the sender gets a DSN built by the gateway's own `act.bounce.build_dsn`, delivered through
the spool like any other DSN.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from kakuri.act.bounce import build_dsn
from kakuri.act.dispose import OWN_MAIL_VERDICT
from kakuri.act.release import release_message
from kakuri.model.envelope import Direction, Envelope
from kakuri.receive.spool import Spool, SpoolEntry
from kakuri.respond.incidents import add_event, get_incident
from kakuri.store import quarantine
from kakuri.store.config import Stores
from kakuri.store.messages import AuditEvent, Message, MessageState, Recipient, RecipientStatus, utcnow

BULK_STATES = ("held", "quarantined")
BOUNCE_REPLY = "550 5.7.1 held during a security incident and returned by the administrator"


class ReleaseError(ValueError):
    pass


@dataclass(frozen=True)
class ReleaseFilter:
    states: tuple[str, ...] = ("held",)
    sender: str = ""  # substring of the envelope sender or From header
    recipient: str = ""  # a whole address, or a fragment such as "@partner.example"
    since: datetime | None = None
    until: datetime | None = None
    symbol: str = ""
    direction: str = ""
    incident_id: int | None = None  # messages linked to it, or sent by its accounts or hosts
    everything: bool = False  # the operator asked for every kept message of these states
    emergency_only: bool = False  # only mail an emergency switch kept, that its own score let through

    def is_narrowed(self) -> bool:
        """A bulk action with no criterion but the state would empty the whole quarantine by accident."""
        return self.everything or self.emergency_only or any((self.sender, self.recipient, self.since, self.until, self.symbol, self.direction,
                    self.incident_id is not None))


@dataclass
class BulkResult:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # queue id -> why


def select_messages(session: Session, flt: ReleaseFilter, *, limit: int = 10_000) -> list[Message]:
    """Kept messages matching the filter, oldest first (the order they would have been delivered in)."""
    bad = set(flt.states) - set(BULK_STATES)
    if bad:
        raise ReleaseError(f"only held or quarantined mail can be released, not {', '.join(sorted(bad))}")
    stmt = select(Message).where(Message.state.in_(flt.states))
    if flt.sender:
        value = flt.sender.strip().lower()
        stmt = stmt.where(func.lower(Message.mail_from).contains(value, autoescape=True)
                          | func.lower(Message.from_header).contains(value, autoescape=True))
    if flt.recipient:
        value = flt.recipient.strip().lower()
        match = Recipient.address == value if "@" in value[1:] else func.lower(Recipient.address).contains(value, autoescape=True)
        stmt = stmt.where(Message.queue_id.in_(select(Recipient.queue_id).where(match)))
    if flt.since:
        stmt = stmt.where(Message.received_at >= _utc(flt.since))
    if flt.until:
        stmt = stmt.where(Message.received_at < _utc(flt.until))
    if flt.symbol:
        stmt = stmt.where(cast(Message.symbols, Text).contains(f'"{flt.symbol.strip().upper()}"', autoescape=True))
    if flt.direction:
        stmt = stmt.where(Message.direction == flt.direction)
    if flt.incident_id is not None:
        stmt = stmt.where(_of_incident(session, flt.incident_id))
    rows = session.scalars(stmt.order_by(Message.received_at, Message.queue_id).limit(limit))
    return [m for m in rows if is_kept_only_by_emergency(m.reasons)] if flt.emergency_only else list(rows)


def is_kept_only_by_emergency(reasons: list[str]) -> bool:
    """True when the verdict's own score chose deliver or tag and an emergency override kept the mail.

    Reads the reasons `decide.scoring` writes: first the score line ("score 2.0 below every threshold
    (inbound)" or "score 6.0 >= tag 5 (inbound)"), then one "override emergency.<mode>: <action>" line
    per override. After an archive lockdown this is what separates the harmless zips to release from
    the malware that would have been quarantined anyway.
    """
    if not reasons or not any(r.startswith("override emergency.") for r in reasons):
        return False
    first = reasons[0]
    return first.startswith("score ") and (" below every threshold" in first or " >= tag " in first)


def _of_incident(session: Session, incident_id: int):
    incident = get_incident(session, incident_id)
    values = {kind: [l.value for l in incident.links if l.kind == kind] for kind in ("message", "account", "host")}
    accounts = [a.lower() for a in values["account"]]
    return or_(
        Message.queue_id.in_(values["message"]),
        func.lower(Message.mail_from).in_(accounts),
        Message.auth_user.in_(values["account"]),
        Message.client_ip.in_(values["host"]),
    )


def release_matching(
    stores: Stores, spool: Spool, flt: ReleaseFilter, *, actor: str, reason: str, on_done=None
) -> BulkResult:
    """Release every match through the gateway's spool; `on_done(queue_id)` may wake a running queue."""
    _check(flt, reason)
    with stores.sessions() as session:
        queue_ids = [m.queue_id for m in select_messages(session, flt)]
    result = BulkResult()
    for queue_id in queue_ids:
        try:
            release_message(stores=stores, spool=spool, queue_id=queue_id, actor=actor, reason=f"bulk: {reason}")
        except quarantine.QuarantineError as exc:  # released by someone else meanwhile, or no stored copy
            result.failed[queue_id] = str(exc)
            continue
        result.done.append(queue_id)
        if on_done is not None:
            on_done(queue_id)
    _record(stores, flt, actor, "released", reason, result)
    return result


def bounce_matching(stores: Stores, spool: Spool, flt: ReleaseFilter, *, actor: str, reason: str, hostname: str) -> BulkResult:
    """Return held mail to its senders: recipients bounced, one DSN per message through the spool."""
    _check(flt, reason)
    if set(flt.states) != {"held"}:
        raise ReleaseError("only held mail can be bounced (quarantined mail is deleted or released)")
    with stores.sessions() as session:
        queue_ids = [m.queue_id for m in select_messages(session, flt)]
    result = BulkResult()
    for queue_id in queue_ids:
        try:
            _bounce_one(stores, spool, queue_id, actor=actor, reason=reason, hostname=hostname)
        except quarantine.QuarantineError as exc:
            result.failed[queue_id] = str(exc)
            continue
        result.done.append(queue_id)
    _record(stores, flt, actor, "bounced", reason, result)
    return result


def _bounce_one(stores: Stores, spool: Spool, queue_id: str, *, actor: str, reason: str, hostname: str) -> None:
    with stores.sessions() as session:
        message = quarantine.get_message(session, queue_id=queue_id)
        if message.state != MessageState.HELD:
            raise quarantine.QuarantineError(f"{queue_id} is {message.state}, only held mail can be bounced")
        raw = quarantine.raw_message(stores.blobs, message)
        failed = [r for r in message.recipients if r.status == RecipientStatus.HELD]
        for rcpt in failed:
            rcpt.status, rcpt.last_reply = RecipientStatus.BOUNCED, BOUNCE_REPLY
        message.state, message.finished_at = MessageState.BOUNCED, utcnow()
        message.audit.append(AuditEvent(actor=actor, event="bounced", reason=reason))
        mail_from, direction = message.mail_from, Direction(message.direction)
        failures = [(r.address, BOUNCE_REPLY) for r in failed]
        session.commit()
    if not mail_from:  # a bounce of a bounce goes nowhere
        return
    dsn = build_dsn(hostname=hostname, original=raw, mail_from=mail_from, queue_id=queue_id, failures=failures)
    to_us = direction is not Direction.INBOUND  # the sender is one of ours unless the mail came in
    spool.write(SpoolEntry(
        queue_id=f"{queue_id}-dsn",  # the gateway's own DSN id: a second bounce attempt never sends two
        envelope=Envelope(mail_from="", rcpt_tos=(mail_from,), direction=Direction.INTERNAL),
        raw=dsn,
        received_at=time.time(),
        rcpt_directions={mail_from: "internal" if to_us else "outbound"},
        verdict=OWN_MAIL_VERDICT,
        origin="dsn",
    ))


def _check(flt: ReleaseFilter, reason: str) -> None:
    if len(reason.strip()) < 3:
        raise ReleaseError("give a reason (kept in the audit log of every message)")
    if not flt.is_narrowed():
        raise ReleaseError("narrow the selection (sender, recipient, time, symbol, direction or incident) or ask for all")


def _record(stores: Stores, flt: ReleaseFilter, actor: str, verb: str, reason: str, result: BulkResult) -> None:
    if flt.incident_id is None or not (result.done or result.failed):
        return
    with stores.sessions() as session:
        add_event(session, flt.incident_id, actor=actor, kind="release",
                  text=f"{len(result.done)} message(s) {verb} in bulk: {reason}",
                  detail={"queue_ids": result.done[:500], "failed": len(result.failed)})
        session.commit()


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
