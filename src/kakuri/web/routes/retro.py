"""Delivered before we knew: an incident's retro-scan findings, and clawback from mailboxes (and undo).

Attached to the incidents routers (same URL space, same roles): reading needs a viewer, clawing back
an analyst with a reason, as releasing does. The IMAP work runs in FastAPI's thread pool (sync routes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Form, HTTPException, Request
from pydantic import BaseModel, Field

from kakuri.respond.clawback.actions import ClawbackError, build_connector, claw_back, select_messages, undo_clawback
from kakuri.respond.delivered import delivered_before_we_knew
from kakuri.web.deps import Analyst, DbDep, Viewer
from kakuri.web.routes.incidents import IncidentId, _back, _load, _valid, api, pages
from kakuri.web.routes.quarantine import actor


class CopyOut(BaseModel):
    recipient: str
    clawback: str  # moved, deleted, not_found, unreachable, failed, restored; "" = not tried
    folder: str
    at: datetime | None


class DeliveredOut(BaseModel):
    queue_id: str
    message_id: str
    received_at: datetime | None
    mail_from: str
    subject: str
    matched: list[str]
    copies: list[CopyOut]


class ClawbackIn(BaseModel):
    reason: str = Field(min_length=3, max_length=1000)
    dry_run: bool = False
    undo: bool = False
    queue_id: str | None = Field(default=None, max_length=40)  # one message; default every finding of the incident


class ClawbackOut(BaseModel):
    queue_id: str
    recipient: str
    outcome: str
    folder: str
    detail: str


@api.get("/incidents/{incident_id}/delivered", response_model=list[DeliveredOut],
         summary="Mail delivered before we knew (retro-scan findings) and each copy's clawback state")
def delivered_api(incident_id: IncidentId, user: Viewer, db: DbDep) -> list[DeliveredOut]:
    _load(db, incident_id)
    return [DeliveredOut(**{**d.__dict__, "copies": [CopyOut(**c.__dict__) for c in d.copies]})
            for d in delivered_before_we_knew(db, incident_id)]


@api.post("/incidents/{incident_id}/clawback", response_model=list[ClawbackOut],
          summary="Move those messages out of the recipients' mailboxes (or back, with undo)")
def clawback_api(incident_id: IncidentId, body: ClawbackIn, user: Analyst, db: DbDep, request: Request) -> list[ClawbackOut]:
    _load(db, incident_id)
    return _clawback(db, request, incident_id, body, user)


def _clawback(db, request: Request, incident_id: int, body: ClawbackIn, user) -> list[ClawbackOut]:
    messages = [m for m in select_messages(db, incident_id=incident_id) if body.queue_id in (None, m.queue_id)]
    if not messages:  # nothing found (yet) for this incident: nothing to do, not an error
        return []
    connector, config = build_connector(request.app.state.settings)
    try:
        if body.undo:
            done = undo_clawback(db, connector, messages, actor=actor(user), reason=body.reason, incident_id=incident_id)
        else:
            done = claw_back(db, connector, config, messages, actor=actor(user), reason=body.reason,
                             dry_run=body.dry_run, incident_id=incident_id)
    except ClawbackError as exc:
        raise HTTPException(422, str(exc)) from exc
    return [ClawbackOut(queue_id=m.queue_id, recipient=r.mailbox, outcome=str(r.outcome), folder=r.folder, detail=r.detail)
            for m in done for r in m.results]


@pages.post("/incidents/{incident_id}/clawback")
def clawback_form(incident_id: IncidentId, request: Request, user: Analyst, db: DbDep,
                  reason: Annotated[str, Form(max_length=1000)] = "", dry_run: Annotated[str, Form(max_length=8)] = "",
                  undo: Annotated[str, Form(max_length=8)] = ""):
    body = _valid(ClawbackIn, reason=reason, dry_run=bool(dry_run), undo=bool(undo))
    _load(db, incident_id)
    results = _clawback(db, request, incident_id, body, user)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "nothing delivered to our mailboxes is linked"
    return _back(incident_id, f"clawback: {summary}")
