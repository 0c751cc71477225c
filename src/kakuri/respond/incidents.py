"""Incidents: what belongs to an outbreak (hosts, accounts, messages, indicators) and its timeline."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kakuri.store.incidents import Incident, IncidentEvent, IncidentLink
from kakuri.store.messages import utcnow

LINK_KINDS = ("host", "account", "message", "indicator", "contact")


class IncidentError(ValueError):
    pass


def open_incident(session: Session, *, title: str, actor: str, severity: str = "high", summary: str = "") -> Incident:
    if not title.strip():
        raise IncidentError("an incident needs a title, e.g. 'Emotet: hijacked replies from sales PC'")
    incident = Incident(title=title.strip(), opened_by=actor, severity=severity, summary=summary)
    session.add(incident)
    session.flush()
    add_event(session, incident.id, actor=actor, kind="opened", text=title.strip())
    return incident


def get_incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise IncidentError(f"no incident {incident_id}; `kakuri incident list` shows the open ones")
    return incident


def list_incidents(session: Session, *, status: str | None = None) -> list[Incident]:
    query = select(Incident).order_by(Incident.id.desc())
    if status:
        query = query.where(Incident.status == status)
    return list(session.scalars(query))


def add_event(session: Session, incident_id: int, *, actor: str, kind: str, text: str, detail: dict | None = None) -> IncidentEvent:
    event = IncidentEvent(incident_id=incident_id, actor=actor, kind=kind, text=text, detail=detail or {})
    session.add(event)
    session.flush()
    return event


def add_note(session: Session, incident_id: int, *, actor: str, text: str) -> IncidentEvent:
    get_incident(session, incident_id)
    return add_event(session, incident_id, actor=actor, kind="note", text=text)


def link(session: Session, incident_id: int, *, kind: str, value: str, actor: str, note: str = "") -> IncidentLink | None:
    """Attach a host/account/message/indicator/contact; returns None when it was already linked."""
    if kind not in LINK_KINDS:
        raise IncidentError(f"unknown link kind {kind!r}; use one of {', '.join(LINK_KINDS)}")
    incident = get_incident(session, incident_id)
    value = value.strip()
    if any(l.kind == kind and l.value == value for l in incident.links):
        return None
    item = IncidentLink(incident_id=incident_id, kind=kind, value=value, note=note)
    incident.links.append(item)
    if kind != "contact":  # contacts come by the hundred from hunt; the timeline names them in one line
        add_event(session, incident_id, actor=actor, kind="linked", text=f"{kind} {value}" + (f": {note}" if note else ""))
    session.flush()
    return item


def close_incident(session: Session, incident_id: int, *, actor: str, summary: str = "") -> Incident:
    incident = get_incident(session, incident_id)
    incident.status, incident.closed_at = "closed", utcnow()
    if summary:
        incident.summary = summary
    add_event(session, incident_id, actor=actor, kind="closed", text=summary or "closed")
    return incident


def import_hunt(session: Session, incident_id: int, results: list[dict], *, actor: str) -> dict[str, int]:
    """Link what `kakuri hunt --json` found infected: hosts, accounts and the contacts to warn."""
    counts = {"host": 0, "account": 0, "contact": 0}
    for entry in results:
        if entry.get("verdict") != "infected":
            continue
        kind = "host" if "host" in entry else "account"
        evidence = "; ".join(_evidence_text(e) for e in (entry.get("evidence") or [])[:3])
        if link(session, incident_id, kind=kind, value=str(entry[kind]), actor=actor, note=f"score {entry.get('score')}: {evidence}"[:500]):
            counts[kind] += 1
            add_event(
                session, incident_id, actor=actor, kind="detection",
                text=f"hunt: {kind} {entry[kind]} infected" + (f" (first seen {entry['first_seen']})" if entry.get("first_seen") else ""),
                detail={"evidence": entry.get("evidence", [])[:20]},
            )
        for address in entry.get("notify") or []:
            if link(session, incident_id, kind="contact", value=str(address).lower(), actor=actor, note=f"from {entry[kind]}"):
                counts["contact"] += 1
    if counts["contact"]:
        add_event(session, incident_id, actor=actor, kind="linked", text=f"{counts['contact']} contacts to warn (from hunt)")
    return counts


def _evidence_text(item) -> str:
    """`kakuri hunt --json` evidence is Finding.as_dict(): "HUNT_FEED_C2 (dst=192.0.2.10:8080)"."""
    if not isinstance(item, dict):
        return str(item)
    details = ", ".join(f"{k}={v}" for k, v in list((item.get("evidence") or {}).items())[:3])
    return f"{item.get('symbol', '?')}" + (f" ({details})" if details else "")


def contacts(incident: Incident) -> list[str]:
    return sorted({l.value for l in incident.links if l.kind == "contact"})
