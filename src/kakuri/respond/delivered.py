"""Mail "delivered before we knew": what retro-scans found for an incident, and where each copy is now.

For the console's incident page, the API and the report: per message, who it reached, what now
fires, and per recipient the last clawback result (moved, not found, unreachable, restored ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kakuri.store.messages import Message
from kakuri.store.retention import ClawbackRecord, RetroFinding


@dataclass
class DeliveredCopy:
    recipient: str
    clawback: str = ""  # the last real attempt's result; "" = not tried
    folder: str = ""
    at: datetime | None = None
    actor: str = ""


@dataclass
class DeliveredMessage:
    queue_id: str
    message_id: str
    received_at: datetime | None
    mail_from: str
    subject: str
    found_at: datetime
    matched: list[str]
    copies: list[DeliveredCopy] = field(default_factory=list)


def delivered_before_we_knew(session: Session, incident_id: int) -> list[DeliveredMessage]:
    findings = session.scalars(select(RetroFinding).where(RetroFinding.incident_id == incident_id)
                               .order_by(RetroFinding.found_at, RetroFinding.id)).all()
    out = []
    for finding in findings:
        message = session.get(Message, finding.queue_id)
        last: dict[str, ClawbackRecord] = {}
        for row in session.scalars(select(ClawbackRecord).where(
                ClawbackRecord.queue_id == finding.queue_id, ClawbackRecord.dry_run.is_(False)).order_by(ClawbackRecord.id)):
            last[row.recipient] = row
        copies = []
        for recipient in finding.recipients:
            row = last.get(recipient)
            copies.append(DeliveredCopy(recipient, row.result if row else "", row.folder if row else "",
                                        row.at if row else None, row.actor if row else ""))
        out.append(DeliveredMessage(
            queue_id=finding.queue_id, message_id=message.message_id if message else "",
            received_at=message.received_at if message else None, mail_from=message.mail_from if message else "",
            subject=message.subject if message else "", found_at=finding.found_at, matched=list(finding.matched),
            copies=copies))
    return out
