"""Which delivered messages to claw back, doing it mailbox by mailbox, the audit trail, and undo.

Every attempt, dry runs included, is a `rt_clawback` row per recipient, an audit event on the message
(what `kakuri trace` and the console show) and, when the message belongs to an incident, a line on
the incident's timeline. Undo moves back what a clawback moved, to the folder it was found in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kakuri.respond.clawback import MailboxConnector, MailboxResult, Outcome
from kakuri.respond.clawback.imap import ImapConfig, ImapConnector
from kakuri.respond.incidents import add_event
from kakuri.store.incidents import IncidentLink
from kakuri.store.messages import AuditEvent, Message, RecipientStatus
from kakuri.store.retention import ClawbackRecord, MessageFeatures, RetroFinding

OUR_MAILBOXES = ("inbound", "internal")  # recipients whose mailboxes are ours to reach


class ClawbackConfig(BaseModel):
    """`[clawback]`."""

    model_config = ConfigDict(extra="forbid")
    connector: Literal["imap"] = "imap"
    action: Literal["move", "delete"] = "move"
    folder: str = "Quarantine"  # made in each mailbox when first needed
    imap: ImapConfig = Field(default_factory=ImapConfig)


class ClawbackError(ValueError):
    pass


def build_connector(settings) -> tuple[MailboxConnector, ClawbackConfig]:
    config = ClawbackConfig.model_validate(settings.section("clawback"))
    return ImapConnector(config.imap, quarantine_folder=config.folder, home=Path(settings.home)), config


@dataclass(frozen=True)
class MessageResult:
    queue_id: str
    message_id: str
    results: list[MailboxResult]


def select_messages(
    session: Session,
    *,
    message: str | None = None,
    incident_id: int | None = None,
    sha256: str | None = None,
    url: str | None = None,
) -> list[Message]:
    """Delivered messages named by queue id or Message-ID, by an incident's findings and linked messages,
    or by a file hash or URL they carry (from the retro-scan's features of retained mail)."""
    ids: set[str] = set()
    if message:
        bare = message.strip().strip("<>")
        ids |= set(session.scalars(select(Message.queue_id).where(
            (Message.queue_id == bare) | (Message.message_id == bare))))
        if not ids:
            raise ClawbackError(f"no message with queue id or Message-ID {message!r}; `kakuri trace` lists them")
    if incident_id is not None:
        ids |= set(session.scalars(select(RetroFinding.queue_id).where(RetroFinding.incident_id == incident_id)))
        ids |= set(session.scalars(select(IncidentLink.value).where(
            IncidentLink.incident_id == incident_id, IncidentLink.kind == "message")))
    for wanted in ([f"sha256:{sha256.lower()}"] if sha256 else []) + ([f"url:{url}"] if url else []):
        for queue_id, items in session.execute(select(MessageFeatures.queue_id, MessageFeatures.items)):
            if wanted in items:
                ids.add(queue_id)
    rows = [session.get(Message, q) for q in sorted(ids)]
    return [m for m in rows if m is not None and _delivered_to_us(m)]


def _delivered_to_us(message: Message) -> list[str]:
    return [r.address for r in message.recipients
            if r.status == RecipientStatus.DELIVERED and r.direction in OUR_MAILBOXES]


def claw_back(
    session: Session,
    connector: MailboxConnector,
    config: ClawbackConfig,
    messages: list[Message],
    *,
    actor: str,
    reason: str,
    dry_run: bool = False,
    incident_id: int | None = None,
) -> list[MessageResult]:
    if not reason.strip():
        raise ClawbackError("a clawback needs a reason (-r), e.g. 'Emotet variant, incident 3'")
    delete = config.action == "delete"
    done = []
    for message in messages:
        if not message.message_id:
            results = [MailboxResult(r, Outcome.FAILED, detail="the message has no Message-ID to find it by")
                       for r in _delivered_to_us(message)]
        else:
            results = [connector.remove(r, message.message_id, delete=delete, dry_run=dry_run)
                       for r in _delivered_to_us(message)]
        _record(session, message, results, action=config.action, actor=actor, reason=reason, dry_run=dry_run,
                incident_id=incident_id)
        done.append(MessageResult(message.queue_id, message.message_id, results))
    session.commit()
    return done


def undo_clawback(
    session: Session, connector: MailboxConnector, messages: list[Message], *, actor: str, reason: str,
    incident_id: int | None = None,
) -> list[MessageResult]:
    """Move back every copy the last clawback of each message moved (deleted copies cannot come back)."""
    if not reason.strip():
        raise ClawbackError("an undo needs a reason (-r), e.g. 'false positive: newsletter'")
    done = []
    for message in messages:
        moved = _last_moved(session, message.queue_id)
        results = [connector.restore(r.recipient, message.message_id, folder=r.folder) for r in moved]
        _record(session, message, results, action="undo", actor=actor, reason=reason, dry_run=False,
                incident_id=incident_id)
        done.append(MessageResult(message.queue_id, message.message_id, results))
    session.commit()
    return done


def _last_moved(session: Session, queue_id: str) -> list[ClawbackRecord]:
    """Per recipient, the latest real attempt if it moved the message (an undo after it cancels it)."""
    latest: dict[str, ClawbackRecord] = {}
    rows = session.scalars(select(ClawbackRecord).where(
        ClawbackRecord.queue_id == queue_id, ClawbackRecord.dry_run.is_(False)).order_by(ClawbackRecord.id))
    for row in rows:
        if row.result in (Outcome.MOVED, Outcome.RESTORED):
            latest[row.recipient] = row
    return [r for r in latest.values() if r.result == Outcome.MOVED]


def _record(session: Session, message: Message, results: list[MailboxResult], *, action: str, actor: str,
            reason: str, dry_run: bool, incident_id: int | None) -> None:
    event = "clawback-undo" if action == "undo" else ("clawback-dry-run" if dry_run else "clawback")
    for result in results:
        session.add(ClawbackRecord(
            queue_id=message.queue_id, message_id=message.message_id, recipient=result.mailbox, action=action,
            result=str(result.outcome), folder=result.folder, detail=result.detail[:2000], dry_run=dry_run,
            actor=actor, reason=reason))
        session.add(AuditEvent(queue_id=message.queue_id, actor=actor, event=event, reason=reason[:500], detail={
            "recipient": result.mailbox, "outcome": str(result.outcome), "folder": result.folder,
            "detail": result.detail[:300]}))
    incident = incident_id or _incident_of(session, message.queue_id)
    if incident is not None and results:
        summary = ", ".join(f"{r.mailbox}: {r.outcome}" for r in results)
        add_event(session, incident, actor=actor, kind=event, text=f"{message.queue_id} <{message.message_id}>: {summary}",
                  detail={"queue_id": message.queue_id, "results": [
                      {"recipient": r.mailbox, "outcome": str(r.outcome), "folder": r.folder} for r in results]})


def _incident_of(session: Session, queue_id: str) -> int | None:
    found = session.scalar(select(RetroFinding.incident_id).where(
        RetroFinding.queue_id == queue_id, RetroFinding.incident_id.is_not(None)).order_by(RetroFinding.id.desc()))
    if found is not None:
        return found
    return session.scalar(select(IncidentLink.incident_id).where(
        IncidentLink.kind == "message", IncidentLink.value == queue_id).order_by(IncidentLink.id.desc()))
