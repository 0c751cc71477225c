"""Store rows -> API models (the API never returns ORM objects), and the symbol catalogue for explanations."""

from __future__ import annotations

from kakuri.model import SymbolSpec
from kakuri.settings import Settings
from kakuri.store.messages import AuditEvent, Message, Recipient, as_utc
from kakuri.web import schemas
from kakuri.web.message_view import MessageView


def quarantine_item(m: Message) -> schemas.QuarantineItem:
    return schemas.QuarantineItem(
        queue_id=m.queue_id,
        received_at=as_utc(m.received_at),
        state=m.state,
        direction=m.direction,
        mail_from=m.mail_from,
        from_header=m.from_header,
        recipients=[r.address for r in m.recipients],
        subject=m.subject,
        score=m.score,
        symbols=list(m.symbols or []),
        size=m.size or 0,
    )


def recipient(r: Recipient) -> schemas.RecipientOut:
    return schemas.RecipientOut(
        address=r.address, status=r.status, last_reply=r.last_reply or "", delivered_at=as_utc(r.delivered_at)
    )


def audit_item(e: AuditEvent) -> schemas.AuditItem:
    return schemas.AuditItem(
        id=e.id, queue_id=e.queue_id, at=as_utc(e.at), actor=e.actor, event=e.event, reason=e.reason or "",
        detail=e.detail or {},
    )


def message_detail(m: Message, view: MessageView | None, settings: Settings) -> schemas.MessageDetail:
    findings = []
    for f in m.findings or []:
        if isinstance(f, dict) and f.get("symbol"):
            findings.append(
                schemas.Finding(
                    symbol=str(f["symbol"]),
                    detector=str(f.get("detector", "")),
                    part=f.get("part"),
                    evidence={str(k): str(v) for k, v in (f.get("evidence") or {}).items()},
                    score=round(settings.policy.score_of(str(f["symbol"])) * float(f.get("weight", 1.0)), 2),
                )
            )
    return schemas.MessageDetail(
        **quarantine_item(m).model_dump(),
        message_id=m.message_id,
        client_ip=m.client_ip,
        helo=m.helo,
        auth_user=m.auth_user,
        action=m.action,
        reasons=[str(r) for r in m.reasons or []],
        findings=findings,
        recipient_status=[recipient(r) for r in m.recipients],
        headers=view.headers if view else [],
        attachments=view.attachments if view else [],
        history=[audit_item(e) for e in m.audit],
    )


def trace_item(m: Message) -> schemas.TraceItem:
    return schemas.TraceItem(
        queue_id=m.queue_id, received_at=as_utc(m.received_at), state=m.state, action=m.action,
        direction=m.direction, mail_from=m.mail_from, subject=m.subject, message_id=m.message_id,
        client_ip=m.client_ip, recipients=[recipient(r) for r in m.recipients],
    )


def catalogue(state) -> dict[str, SymbolSpec]:
    """Symbol name -> spec (family, the description an admin reads); built on first use, per app."""
    cached = getattr(state, "catalogue", None)
    if cached is None:
        from kakuri.detect.registry import build_detectors, symbol_catalogue

        try:
            cached = symbol_catalogue(build_detectors(state.settings))
        except Exception:  # noqa: BLE001 — explanations without descriptions beat a broken page
            cached = {}
        state.catalogue = cached
    return cached
