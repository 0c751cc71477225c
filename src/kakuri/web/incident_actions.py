"""What the incident pages and API do beyond a single service call: isolation with its config, the
warning preview and the background send through the gateway's spool, the report as a download.

Warnings are sent after the response (a rate-limited list of hundreds takes minutes); each recipient's
status is committed as it goes, so the incident page shows progress and a crash loses nothing.
"""

from __future__ import annotations

from email import message_from_bytes
from email.header import decode_header, make_header

from fastapi import BackgroundTasks, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kakuri.respond import incidents as svc
from kakuri.respond.isolation import IsolationResult, check_actions, check_host, check_reason, isolate_host
from kakuri.respond.outbox import spool_sender, warning_config
from kakuri.respond.release import ReleaseFilter, release_matching, select_messages
from kakuri.respond.report import build_report, render_report
from kakuri.respond.warnings import WarningConfig, compose_warning, render_text, send_warnings
from kakuri.store.incidents import Incident, WarningMail
from kakuri.web.deps import Principal
from kakuri.web.respond_schemas import HuntEntry, IsolateIn, ReleaseIn, ReleaseOut, WarningPreview, WarnIn, WarnResult


def warning_rows(db: Session, incident_id: int) -> list[WarningMail]:
    return list(db.scalars(select(WarningMail).where(WarningMail.incident_id == incident_id).order_by(WarningMail.recipient)))


def import_hunt(db: Session, incident_id: int, entries: list[HuntEntry], who: str) -> dict[str, int]:
    results = [e.model_dump(exclude_none=True) for e in entries if e.host or e.account]
    counts = svc.import_hunt(db, incident_id, results, actor=who)
    db.commit()
    return counts


def isolate(db: Session, request: Request, incident_id: int, body: IsolateIn, user: Principal) -> list[IsolationResult]:
    if not body.dry_run and not user.is_admin:
        raise HTTPException(403, "isolating a host needs the admin role (a dry run does not)")
    settings = request.app.state.settings
    try:
        actions = check_actions(settings.section("respond").get("isolation", []))
        try:
            host, _ = check_host(body.host), check_reason(body.reason)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        svc.link(db, incident_id, kind="host", value=host, actor=f"web:{user.name}")
        results = isolate_host(db, incident_id, host, actions, actor=f"web:{user.name}", reason=body.reason,
                               dry_run=body.dry_run)
    except svc.IncidentError as exc:
        raise HTTPException(404, str(exc)) from exc
    except ValueError as exc:  # no action configured, or a bad one
        raise HTTPException(409, str(exc)) from exc
    db.commit()
    return results


def _config(request: Request, body: WarnIn) -> WarningConfig:
    config = warning_config(request.app.state.settings)
    return config.model_copy(update={"language": body.language}) if body.language else config


def preview(db: Session, request: Request, incident: Incident, body: WarnIn) -> WarningPreview:
    settings = request.app.state.settings
    config = _config(request, body)
    targets = svc.contacts(incident)
    text = render_text(config, our_domains=settings.org.our_domains, incident_ref=f"INC-{incident.id}", home=settings.home)
    subject = {"ja": config.subject_ja, "en": config.subject_en}.get(config.language, f"{config.subject_ja} / {config.subject_en}")
    if config.from_address and targets:  # what will really be sent: the encoded subject must read back the same
        raw = compose_warning(config, targets[0], text)
        subject = str(make_header(decode_header(message_from_bytes(raw)["Subject"])))
    return WarningPreview(recipients=targets, subject=subject, charset=config.charset, text=text)


def warn(db: Session, request: Request, incident: Incident, body: WarnIn, user: Principal,
         background: BackgroundTasks) -> WarnResult:
    config = _config(request, body)
    if not config.from_address:
        raise HTTPException(409, "set [respond.warning] from_address in kakuri.toml before sending warnings")
    done = {w.recipient for w in warning_rows(db, incident.id) if w.status == "sent"}
    todo = [c for c in svc.contacts(incident) if c not in done]
    if not todo:  # every contact warned already (or none yet): nothing to do, and asking twice is no error
        return WarnResult(queued=0)
    app = request.app
    background.add_task(_send, app.state.sessions, app.state.settings, incident.id, config, f"web:{user.name}")
    return WarnResult(queued=len(todo))


def _send(sessions, settings, incident_id: int, config: WarningConfig, who: str) -> None:
    sender = spool_sender(settings, incident_ref=f"INC-{incident_id}")  # the gateway's spool, same data folder
    with sessions() as db:
        send_warnings(db, incident_id, config=config, sender=sender, our_domains=settings.org.our_domains, actor=who,
                      home=settings.home)


def release(request: Request, incident_id: int, body: ReleaseIn, user: Principal) -> ReleaseOut:
    """The all-clear for one incident: its kept mail (linked, or from its accounts and hosts) goes out
    message by message through the audited release and the gateway's spool."""
    from kakuri.receive.shared_spool import spool_for

    app = request.app
    flt = ReleaseFilter(states=tuple(body.states), incident_id=incident_id)
    if body.dry_run:
        with app.state.sessions() as db:
            return ReleaseOut(queue_ids=[m.queue_id for m in select_messages(db, flt)])
    settings = app.state.settings
    spool = spool_for(settings, engine=app.state.stores.engine)
    result = release_matching(app.state.stores, spool, flt, actor=f"web:{user.name}", reason=body.reason)
    return ReleaseOut(queue_ids=result.done, failed=result.failed)


def report(db: Session, incident_id: int, fmt: str) -> Response:
    text = render_report(build_report(db, incident_id), fmt)
    media = "text/html; charset=utf-8" if fmt == "html" else "text/markdown; charset=utf-8"
    return Response(text, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="incident-{incident_id}.{fmt}"'})
