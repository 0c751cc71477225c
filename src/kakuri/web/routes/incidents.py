"""Incidents: list, open, detail (links, timeline, warnings), notes, links, hunt import, isolation,
warnings (preview, then send through the gateway) and the report.

Reading needs a viewer; changing needs an analyst; a real isolation call (not a dry run) needs an
admin, because it acts on the company's network through the configured NAC/EDR hooks.
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from kakuri.respond import incidents as svc
from kakuri.respond.delivered import delivered_before_we_knew
from kakuri.respond.warnings import delivery_status
from kakuri.store.incidents import Incident
from kakuri.web.deps import Analyst, DbDep, Viewer
from kakuri.web.pages import render
from kakuri.web.respond_schemas import (
    EventOut, HuntEntry, IncidentDetail, IncidentIn, IncidentItem, IsolateIn, IsolationOut, LinkCounts, LinkIn,
    LinkOut, NoteIn, ReleaseIn, ReleaseOut, WarningOut, WarningPreview, WarnIn, WarnResult,
)
from kakuri.web import incident_actions as do
from kakuri.web.routes.quarantine import _first_error, actor

api = APIRouter(tags=["incidents"])
pages = APIRouter()

IncidentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_HUNT_BYTES = 20 * 1024 * 1024
_hunt_list = TypeAdapter(list[HuntEntry])


def _load(db: Session, incident_id: int) -> Incident:
    try:
        return svc.get_incident(db, incident_id)
    except svc.IncidentError as exc:
        raise HTTPException(404, str(exc)) from exc


def _item(inc: Incident) -> dict:
    count = lambda kind: sum(l.kind == kind for l in inc.links)  # noqa: E731
    return dict(id=inc.id, title=inc.title, status=inc.status, severity=inc.severity, opened_at=inc.opened_at,
                opened_by=inc.opened_by, closed_at=inc.closed_at, hosts=count("host"), accounts=count("account"),
                contacts=count("contact"))


def _detail(db: Session, inc: Incident) -> IncidentDetail:
    status = delivery_status(db, inc.id)
    warnings = [WarningOut(recipient=w.recipient, status=status.get(w.recipient, w.status), queue_id=w.queue_id,
                           sent_at=w.sent_at) for w in do.warning_rows(db, inc.id)]
    return IncidentDetail(
        **_item(inc), summary=inc.summary,
        links=[LinkOut(kind=l.kind, value=l.value, note=l.note, added_at=l.added_at) for l in inc.links],
        timeline=[EventOut(at=e.at, actor=e.actor, kind=e.kind, text=e.text) for e in inc.events],
        warnings=warnings,
    )


# --- API -----------------------------------------------------------------------------------------


@api.get("/incidents", response_model=list[IncidentItem], summary="Incidents, newest first")
def list_api(user: Viewer, db: DbDep, status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None):
    return [IncidentItem(**_item(i)) for i in svc.list_incidents(db, status=status)]


@api.post("/incidents", response_model=IncidentDetail, status_code=201, summary="Open an incident")
def open_api(body: IncidentIn, user: Analyst, db: DbDep) -> IncidentDetail:
    inc = svc.open_incident(db, title=body.title, actor=actor(user), severity=body.severity.value, summary=body.summary)
    db.commit()
    return _detail(db, inc)


@api.get("/incidents/{incident_id}", response_model=IncidentDetail, summary="Links, timeline and warnings")
def detail_api(incident_id: IncidentId, user: Viewer, db: DbDep) -> IncidentDetail:
    return _detail(db, _load(db, incident_id))


@api.post("/incidents/{incident_id}/notes", response_model=EventOut, summary="Add a note to the timeline")
def note_api(incident_id: IncidentId, body: NoteIn, user: Analyst, db: DbDep) -> EventOut:
    _load(db, incident_id)
    event = svc.add_note(db, incident_id, actor=actor(user), text=body.text)
    db.commit()
    return EventOut(at=event.at, actor=event.actor, kind=event.kind, text=event.text)


@api.post("/incidents/{incident_id}/links", response_model=LinkCounts, summary="Link hosts, accounts, messages...")
def link_api(incident_id: IncidentId, body: LinkIn, user: Analyst, db: DbDep) -> LinkCounts:
    _load(db, incident_id)
    added = sum(svc.link(db, incident_id, kind=body.kind.value, value=v, actor=actor(user), note=body.note) is not None
                for v in body.values)
    db.commit()
    return LinkCounts(added=added)


@api.post("/incidents/{incident_id}/hunt", response_model=LinkCounts, summary="Import `kakuri hunt --json` results")
def hunt_api(incident_id: IncidentId, body: list[HuntEntry], user: Analyst, db: DbDep) -> LinkCounts:
    _load(db, incident_id)
    counts = do.import_hunt(db, incident_id, body, actor(user))
    return LinkCounts(**counts, added=sum(counts.values()))


@api.post("/incidents/{incident_id}/isolate", response_model=list[IsolationOut], summary="Isolate a host (dry run first)")
def isolate_api(incident_id: IncidentId, body: IsolateIn, user: Analyst, db: DbDep, request: Request):
    _load(db, incident_id)
    return [IsolationOut(**vars(r)) for r in do.isolate(db, request, incident_id, body, user)]


@api.get("/incidents/{incident_id}/warning", response_model=WarningPreview, summary="Preview the warning mail")
def preview_api(incident_id: IncidentId, user: Analyst, db: DbDep, request: Request,
                language: Annotated[str | None, Query(pattern="^(ja|en|both)$")] = None) -> WarningPreview:
    return do.preview(db, request, _load(db, incident_id), WarnIn(language=language))


@api.post("/incidents/{incident_id}/warn", response_model=WarnResult, status_code=202,
          summary="Warn the contacts through the gateway (each once; status on the incident)")
def warn_api(incident_id: IncidentId, body: WarnIn, user: Analyst, db: DbDep, request: Request,
             background: BackgroundTasks) -> WarnResult:
    return do.warn(db, request, _load(db, incident_id), body, user, background)


@api.post("/incidents/{incident_id}/release", response_model=ReleaseOut,
          summary="All clear: release the incident's held (or quarantined) mail through the gateway")
def release_api(incident_id: IncidentId, body: ReleaseIn, user: Analyst, db: DbDep, request: Request) -> ReleaseOut:
    _load(db, incident_id)
    db.commit()  # end this read before the release writes through its own sessions
    return do.release(request, incident_id, body, user)


@api.get("/incidents/{incident_id}/report", summary="The incident report (Markdown or standalone HTML)",
         responses={200: {"content": {"text/markdown": {}, "text/html": {}}}})
def report_api(incident_id: IncidentId, user: Viewer, db: DbDep,
               format: Annotated[str, Query(pattern="^(md|html)$")] = "md") -> Response:
    _load(db, incident_id)
    return do.report(db, incident_id, format)


# --- pages ---------------------------------------------------------------------------------------


@pages.get("/incidents")
def incidents_page(request: Request, user: Viewer, db: DbDep, status: str = ""):
    rows = [_item(i) for i in svc.list_incidents(db, status=status if status in ("open", "closed") else None)]
    return render(request, "incidents.html", user, rows=rows, status=status, can_act=user.allows_analyst)


@pages.post("/incidents")
def open_form(user: Analyst, db: DbDep, title: Annotated[str, Form(max_length=300)] = "",
              severity: Annotated[str, Form(max_length=16)] = "high", summary: Annotated[str, Form(max_length=5000)] = ""):
    body = _valid(IncidentIn, title=title, severity=severity, summary=summary)
    inc = svc.open_incident(db, title=body.title, actor=actor(user), severity=body.severity.value, summary=body.summary)
    db.commit()
    return RedirectResponse(f"/incidents/{inc.id}", 303)


@pages.get("/incidents/{incident_id}")
def incident_page(incident_id: IncidentId, request: Request, user: Viewer, db: DbDep, done: str = "", preview: str = ""):
    inc = _load(db, incident_id)
    mail = do.preview(db, request, inc, WarnIn(language=preview)) if preview in ("ja", "en", "both") and user.allows_analyst else None
    return render(request, "incident.html", user, i=_detail(db, inc), done=done[:300], can_act=user.allows_analyst,
                  can_isolate=user.is_admin, mail=mail, link_kinds=svc.LINK_KINDS,
                  delivered=delivered_before_we_knew(db, incident_id))


@pages.post("/incidents/{incident_id}/note")
def note_form(incident_id: IncidentId, user: Analyst, db: DbDep, text: Annotated[str, Form(max_length=5000)] = ""):
    body = _valid(NoteIn, text=text)
    _load(db, incident_id)
    svc.add_note(db, incident_id, actor=actor(user), text=body.text)
    return _back(incident_id, "note added")


@pages.post("/incidents/{incident_id}/link")
def link_form(incident_id: IncidentId, user: Analyst, db: DbDep, kind: Annotated[str, Form(max_length=16)] = "",
              values: Annotated[str, Form(max_length=200_000)] = "", note: Annotated[str, Form(max_length=500)] = ""):
    body = _valid(LinkIn, kind=kind, values=values.replace(",", "\n").splitlines(), note=note)
    return _back(incident_id, f"linked {link_api(incident_id, body, user, db).added} new {body.kind.value}(s)")


@pages.post("/incidents/{incident_id}/hunt")
async def hunt_form(incident_id: IncidentId, user: Analyst, db: DbDep, file: Annotated[UploadFile, File()]):
    data = await file.read(MAX_HUNT_BYTES + 1)
    if len(data) > MAX_HUNT_BYTES:
        raise HTTPException(413, "the hunt file is larger than 20 MiB")
    try:
        entries = _hunt_list.validate_python(json.loads(data))
    except (ValueError, ValidationError) as exc:
        raise HTTPException(422, f"not the JSON `kakuri hunt --json` writes: {str(exc)[:300]}") from exc
    _load(db, incident_id)
    c = do.import_hunt(db, incident_id, entries, actor(user))
    return _back(incident_id, f"linked {c['host']} host(s), {c['account']} account(s), {c['contact']} contact(s)")


@pages.post("/incidents/{incident_id}/isolate")
def isolate_form(incident_id: IncidentId, request: Request, user: Analyst, db: DbDep,
                 host: Annotated[str, Form(max_length=255)] = "", reason: Annotated[str, Form(max_length=1000)] = "",
                 dry_run: Annotated[str, Form(max_length=8)] = ""):
    body = _valid(IsolateIn, host=host, reason=reason, dry_run=bool(dry_run))
    _load(db, incident_id)
    results = do.isolate(db, request, incident_id, body, user)
    summary = "; ".join(f"{r.action}: {'dry run' if r.dry_run else 'ok' if r.ok else 'FAILED'} {r.detail}" for r in results)
    return _back(incident_id, summary or "no isolation action configured")


@pages.post("/incidents/{incident_id}/warn")
def warn_form(incident_id: IncidentId, request: Request, user: Analyst, db: DbDep, background: BackgroundTasks,
              language: Annotated[str, Form(max_length=8)] = ""):
    body = _valid(WarnIn, language=language or None)
    result = do.warn(db, request, _load(db, incident_id), body, user, background)
    return _back(incident_id, f"{result.queued} warning(s) being sent through the gateway")


@pages.post("/incidents/{incident_id}/release")
def release_form(incident_id: IncidentId, request: Request, user: Analyst, db: DbDep,
                 reason: Annotated[str, Form(max_length=1000)] = ""):
    body = _valid(ReleaseIn, reason=reason)
    result = release_api(incident_id, body, user, db, request)
    failed = f", {len(result.failed)} failed" if result.failed else ""
    return _back(incident_id, f"{len(result.queue_ids)} held message(s) released{failed}")


@pages.post("/incidents/{incident_id}/close")
def close_form(incident_id: IncidentId, user: Analyst, db: DbDep, summary: Annotated[str, Form(max_length=5000)] = ""):
    _load(db, incident_id)
    svc.close_incident(db, incident_id, actor=actor(user), summary=summary.strip())
    return _back(incident_id, "closed")


@pages.get("/incidents/{incident_id}/report")
def report_page(incident_id: IncidentId, user: Viewer, db: DbDep, format: str = "html") -> Response:
    _load(db, incident_id)
    return do.report(db, incident_id, format if format in ("md", "html") else "html")


def _valid(model, **values):
    try:
        return model(**values)
    except ValidationError as exc:
        raise HTTPException(422, _first_error(exc)) from exc


def _back(incident_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/incidents/{incident_id}?" + urlencode({"done": done[:300]}), 303)


from kakuri.web.routes import retro as _retro  # noqa: E402,F401  delivered-before-we-knew and clawback routes on these routers
