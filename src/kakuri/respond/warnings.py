"""Warning mail to the contacts who may receive spoofed mail in our name.

Templates (Japanese and English) ship with kakuri and can be replaced by files of the same name in
`<home>/templates/`. Mail is encoded as ISO-2022-JP (what Japanese business mail clients expect) or
UTF-8, previewed before sending, then handed to a `WarningSender` (the gateway's delivery path) one
recipient at a time with a rate limit; each (incident, recipient) is sent at most once.
"""

from __future__ import annotations

import re
import time
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Callable, Literal, Protocol

import jinja2
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from kakuri.display import visible
from kakuri.respond.incidents import add_event, contacts, get_incident
from kakuri.store.incidents import WarningMail
from kakuri.store.messages import Recipient, utcnow

_STOCK_TEMPLATES = Path(__file__).with_name("templates")


class WarningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_address: str = ""  # e.g. info-security@tokai-keiki.example; required to send
    from_name: str = ""
    organisation_ja: str = ""
    organisation_en: str = ""
    contact_point: str = ""  # phone or address people may ask
    language: Literal["ja", "en", "both"] = "both"  # both: Japanese first, then English
    charset: Literal["iso-2022-jp", "utf-8"] = "iso-2022-jp"
    subject_ja: str = "【重要】弊社を装った不審なメールに関するお詫びとご注意"
    subject_en: str = "Important: suspicious emails pretending to come from us"
    rate_per_minute: float = 30.0


class WarningSender(Protocol):
    def send(self, raw: bytes, mail_from: str, rcpt: str) -> tuple[bool, str, str | None]:
        """Hand one message over; returns (accepted, reply text, queue id if any)."""


def render_text(config: WarningConfig, *, our_domains: list[str], incident_ref: str, home: Path | None, contact_name: str = "") -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in ((home / "templates") if home else None, _STOCK_TEMPLATES) if p]),
        autoescape=False,  # plain-text mail
        finalize=lambda value: visible(value, newlines=True),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    values = {
        "contact_name": contact_name,
        "organisation_ja": config.organisation_ja or config.organisation_en,
        "organisation_en": config.organisation_en or config.organisation_ja,
        "contact_point": config.contact_point or config.from_address,
        "our_domains": our_domains,
        "incident_ref": incident_ref,
    }
    languages = ("ja", "en") if config.language == "both" else (config.language,)
    texts = [env.get_template(f"warning_{lang}.txt.j2").render(**values).strip() for lang in languages]
    return ("\n\n" + "-" * 60 + "\n\n").join(texts) + "\n"


def compose_warning(config: WarningConfig, recipient: str, text: str) -> bytes:
    if not config.from_address:
        raise ValueError("set [respond.warning] from_address in kakuri.toml before sending warnings")
    subject = {"ja": config.subject_ja, "en": config.subject_en}.get(config.language, f"{config.subject_ja} / {config.subject_en}")
    if not is_plain_address(recipient):
        raise ValueError(f"not a plain mail address: {visible(recipient, limit=200)}")
    charset = config.charset
    msg = MIMEText(text, "plain", charset)
    msg["Subject"] = Header(subject, charset).encode()
    msg["From"] = formataddr((str(Header(config.from_name, charset)) if config.from_name else "", config.from_address))
    msg["To"] = recipient
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=config.from_address.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer it
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


_ADDRESS = re.compile(r"[^\s@<>(),;:\\\"\[\]]{1,64}@[A-Za-z0-9.-]{1,253}")


def is_plain_address(value: str) -> bool:
    """local@domain and nothing else: contacts come from logs and mail, and a line break or a second
    address in one would add headers or recipients to the warning."""
    return bool(_ADDRESS.fullmatch(value)) and value.isascii() and value.isprintable()


def send_warnings(
    session: Session,
    incident_id: int,
    *,
    config: WarningConfig,
    sender: WarningSender,
    our_domains: list[str],
    actor: str,
    home: Path | None = None,
    recipients: list[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Send the warning to every contact of the incident not yet warned; returns counts by status."""
    incident = get_incident(session, incident_id)
    targets = sorted({r.lower() for r in (recipients if recipients is not None else contacts(incident))})
    text = render_text(config, our_domains=our_domains, incident_ref=f"INC-{incident_id}", home=home)
    interval = 60.0 / config.rate_per_minute if config.rate_per_minute > 0 else 0.0
    counts = {"sent": 0, "failed": 0, "skipped": 0}
    for index, rcpt in enumerate(targets):
        row = session.scalars(select(WarningMail).where(WarningMail.incident_id == incident_id, WarningMail.recipient == rcpt)).first()
        if row is not None and row.status == "sent":
            counts["skipped"] += 1
            continue
        if row is None:
            row = WarningMail(incident_id=incident_id, recipient=rcpt, language=config.language)
            session.add(row)
        if index and interval:
            sleep(interval)
        try:
            raw = compose_warning(config, rcpt, text)
        except ValueError as exc:
            ok, reply, queue_id = False, str(exc), None
        else:
            ok, reply, queue_id = sender.send(raw, config.from_address, rcpt)
        row.status, row.last_reply, row.queue_id = ("sent" if ok else "failed"), reply[:500], queue_id
        row.sent_at = utcnow() if ok else None
        counts["sent" if ok else "failed"] += 1
        session.commit()  # per-recipient status survives a crash in the middle of a long list
    add_event(session, incident_id, actor=actor, kind="warning", text=f"warnings: {counts['sent']} sent, {counts['failed']} failed, {counts['skipped']} already sent", detail=counts)
    session.commit()
    return counts


def warning_status(session: Session, incident_id: int) -> list[WarningMail]:
    return list(session.scalars(select(WarningMail).where(WarningMail.incident_id == incident_id).order_by(WarningMail.recipient)))


def delivery_status(session: Session, incident_id: int) -> dict[str, str]:
    """recipient -> what the gateway did with the warning (pending, delivered, deferred, bounced), or the
    warning's own status when it never reached the gateway."""
    rows = session.execute(
        select(WarningMail.recipient, WarningMail.status, Recipient.status)
        .outerjoin(Recipient, (Recipient.queue_id == WarningMail.queue_id) & (Recipient.address == WarningMail.recipient))
        .where(WarningMail.incident_id == incident_id)
        .order_by(WarningMail.recipient)
    )
    return {rcpt: (str(delivery) if delivery else str(status)) for rcpt, status, delivery in rows}
