"""Emergency switches: what is in force, and one click (with a reason) to turn a mode on or off.

Switching on only ever escalates (more mail held or quarantined), so analysts may do it in the middle
of an outbreak; switching off relaxes protection for everyone and needs an admin. Every switch is a row
with who, when and why, and lands on the incident's timeline when one is named.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from kakuri.respond.emergency import EmergencyError, ModeKind, active_modes, describe, disable_mode, enable_mode
from kakuri.respond.incidents import IncidentError
from kakuri.store.incidents import EmergencyMode
from kakuri.web.deps import Admin, Analyst, DbDep, Viewer
from kakuri.web.pages import render
from kakuri.web.respond_schemas import ModeIn, ModeOffIn, ModeOut, SwitchResult
from kakuri.web.routes.quarantine import _first_error, actor

api = APIRouter(tags=["emergency"])
pages = APIRouter()

NEEDS_VALUE = (ModeKind.HOLD_SENDER, ModeKind.HOLD_HOST)


def _out(mode: EmergencyMode) -> ModeOut:
    return ModeOut(id=mode.id, kind=ModeKind(mode.kind), value=mode.value, reason=mode.reason,
                   enabled_at=mode.enabled_at, enabled_by=mode.enabled_by, incident_id=mode.incident_id)


def _switch_on(db, body: ModeIn, who: str) -> EmergencyMode:
    try:
        mode = enable_mode(db, kind=body.kind, value=body.value, reason=body.reason, actor=who,
                           incident_id=_incident(db, body.incident_id))
    except EmergencyError as exc:
        raise HTTPException(422, str(exc)) from exc
    db.commit()
    return mode


def _switch_off(db, body: ModeOffIn, who: str) -> int:
    try:
        closed = disable_mode(db, kind=body.kind, value=body.value, reason=body.reason, actor=who)
    except EmergencyError as exc:
        raise HTTPException(422, str(exc)) from exc
    db.commit()
    return closed


def _incident(db, incident_id: int | None) -> int | None:
    if incident_id is None:
        return None
    from kakuri.respond.incidents import get_incident

    try:
        return get_incident(db, incident_id).id
    except IncidentError as exc:
        raise HTTPException(404, str(exc)) from exc


# --- API -----------------------------------------------------------------------------------------


@api.get("/emergency", response_model=list[ModeOut], summary="Emergency policies in force")
def status_api(user: Viewer, db: DbDep) -> list[ModeOut]:
    return [_out(m) for m in active_modes(db)]


@api.post("/emergency/on", response_model=ModeOut, summary="Switch an emergency policy on (every gateway worker, within seconds)")
def on_api(body: ModeIn, user: Analyst, db: DbDep) -> ModeOut:
    return _out(_switch_on(db, body, actor(user)))


@api.post("/emergency/off", response_model=SwitchResult, summary="Switch an emergency policy off (admin)")
def off_api(body: ModeOffIn, user: Admin, db: DbDep) -> SwitchResult:
    return SwitchResult(closed=_switch_off(db, body, actor(user)))


# --- pages ---------------------------------------------------------------------------------------


@pages.get("/emergency")
def emergency_page(request: Request, user: Viewer, db: DbDep, done: str = ""):
    modes = active_modes(db)
    on = {m.kind for m in modes}
    return render(request, "emergency.html", user, modes=modes, on=on, kinds=[k.value for k in ModeKind],
                  needs_value=[k.value for k in NEEDS_VALUE], describe=describe, done=done[:300],
                  can_switch_on=user.allows_analyst, can_switch_off=user.is_admin)


@pages.post("/emergency/on")
def on_form(
    user: Analyst, db: DbDep,
    kind: Annotated[str, Form(max_length=32)], reason: Annotated[str, Form(max_length=1000)] = "",
    value: Annotated[str, Form(max_length=320)] = "", incident_id: Annotated[str, Form(max_length=12)] = "",
):
    try:
        body = ModeIn(kind=kind, value=value, reason=reason, incident_id=int(incident_id) if incident_id.isdigit() else None)
    except ValidationError as exc:
        raise HTTPException(422, _first_error(exc)) from exc
    mode = _switch_on(db, body, actor(user))
    return _back(f"{describe(mode)} ON")


@pages.post("/emergency/off")
def off_form(
    user: Admin, db: DbDep,
    kind: Annotated[str, Form(max_length=32)], reason: Annotated[str, Form(max_length=1000)] = "",
    value: Annotated[str, Form(max_length=320)] = "",
):
    try:
        body = ModeOffIn(kind=kind, value=value, reason=reason)
    except ValidationError as exc:
        raise HTTPException(422, _first_error(exc)) from exc
    closed = _switch_off(db, body, actor(user))
    return _back(f"{body.kind.value} {body.value} OFF ({closed})".replace("  ", " "))


def _back(done: str) -> RedirectResponse:
    return RedirectResponse("/emergency?" + urlencode({"done": done}), 303)
