"""Incident report: timeline, affected hosts and accounts, mail counts, warnings and actions taken.

Rendered from one data object into Markdown (for tickets and mail) and standalone HTML (for people
and printing to PDF from a browser); no remote resources in either.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jinja2
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kakuri.display import html_value, markdown_text
from kakuri.respond.delivered import delivered_before_we_knew
from kakuri.respond.incidents import get_incident
from kakuri.respond.warnings import delivery_status
from kakuri.store.incidents import Incident, WarningMail
from kakuri.store.messages import AuditEvent, Message, as_utc, utcnow

_TEMPLATES = Path(__file__).with_name("templates")
OWN_ORIGINS = ("warning", "dsn")


@dataclass
class IncidentReport:
    incident: Incident
    generated_at: datetime
    window_end: datetime
    hosts: list[str]
    accounts: list[str]
    indicators: list[str]
    contacts: int
    mail_states: dict[str, int]  # messages received during the incident, by current state
    held_total: int  # messages ever held during the incident (some released since)
    quarantined_total: int
    released: int
    warnings: dict[str, int]  # sent / failed / pending by kakuri; delivered: accepted by the next hop
    actions: list = field(default_factory=list)  # timeline events that are actions (isolation, emergency, warning, release)
    delivered: list = field(default_factory=list)  # respond.delivered: found by retro-scan, with clawback results


def build_report(session: Session, incident_id: int) -> IncidentReport:
    incident = get_incident(session, incident_id)
    end = incident.closed_at or utcnow()
    start = _window_start(session, incident)
    # Mail we generate (warnings, bounces) is counted under warnings, not as mail of the outbreak.
    window = (Message.received_at >= start, Message.received_at <= end, Message.origin.not_in(OWN_ORIGINS))
    states = dict(session.execute(select(Message.state, func.count()).where(*window).group_by(Message.state)).all())
    actions = dict(session.execute(select(Message.action, func.count()).where(*window).group_by(Message.action)).all())
    released = session.scalar(
        select(func.count(func.distinct(AuditEvent.queue_id))).where(
            AuditEvent.event == "released", AuditEvent.at >= start, AuditEvent.at <= end
        )
    ) or 0
    warnings = Counter(session.scalars(select(WarningMail.status).where(WarningMail.incident_id == incident_id)))
    delivered = sum(status == "delivered" for status in delivery_status(session, incident_id).values())
    links = {kind: sorted(l.value for l in incident.links if l.kind == kind) for kind in ("host", "account", "indicator", "contact")}
    return IncidentReport(
        incident=incident,
        generated_at=utcnow(),
        window_end=end,
        hosts=links["host"],
        accounts=links["account"],
        indicators=links["indicator"],
        contacts=len(links["contact"]),
        mail_states={str(k): v for k, v in sorted(states.items())},
        held_total=actions.get("hold", 0),
        quarantined_total=actions.get("quarantine", 0) + actions.get("reject", 0),
        released=released,
        warnings={**{k: warnings.get(k, 0) for k in ("sent", "failed", "pending")}, "delivered": delivered},
        actions=[e for e in incident.events if e.kind in ("isolation", "emergency", "warning", "release", "closed",
                                                          "clawback", "clawback-undo")],
        delivered=delivered_before_we_knew(session, incident_id),
    )


def _window_start(session: Session, incident: Incident) -> datetime:
    """The incident's opening, or its first linked message when that came earlier (the detection that
    made someone open it belongs to the incident)."""
    linked = [l.value for l in incident.links if l.kind == "message"]
    first = session.scalar(select(func.min(Message.received_at)).where(Message.queue_id.in_(linked))) if linked else None
    opened = as_utc(incident.opened_at)
    return min(opened, as_utc(first)) if first else opened


def render_report(report: IncidentReport, fmt: str = "md") -> str:
    name = {"md": "report.md.j2", "html": "report.html.j2"}.get(fmt)
    if name is None:
        raise ValueError(f"unknown report format {fmt!r}: use md or html")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=fmt == "html",
        finalize=html_value if fmt == "html" else markdown_text,  # values come from mail and logs
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name).render(r=report)
