"""Quarantine: search, message detail, text preview, raw download, release and delete (single and bulk)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from kakuri.store import quarantine as quarantine_store
from kakuri.store.messages import AuditEvent, Message
from kakuri.web import i18n, present, queries
from kakuri.web.actions import ActionError
from kakuri.web.deps import Analyst, DbDep, Principal, Viewer
from kakuri.web.message_view import view_message
from kakuri.web.pages import render
from kakuri.web.schemas import (
    BulkIn,
    BulkResult,
    MessageDetail,
    MessageText,
    Operation,
    OperationResult,
    QuarantinePage,
    ReasonIn,
)

api = APIRouter(tags=["quarantine"])
pages = APIRouter()

QueueId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")]


class ListState(StrEnum):
    QUARANTINED = "quarantined"
    HELD = "held"
    RELEASED = "released"
    DELETED = "deleted"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


def _filter(state, since, until, sender, recipient, symbol, direction, q) -> queries.MessageFilter:
    return queries.MessageFilter(
        states=(str(state),), since=since, until=until, sender=sender or "", recipient=recipient or "",
        symbol=symbol or "", direction=str(direction) if direction else "", text=q or "",
    )


def _search(db, flt, cursor, limit):
    try:
        return queries.search_messages(db, flt, cursor=cursor, limit=limit)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


def _load(db, queue_id: str) -> Message:
    message = db.get(Message, queue_id)
    if message is None:
        raise HTTPException(404, f"no message {queue_id}")
    return message


def _view(request: Request, message: Message):
    if not message.blob_sha256:
        return None
    try:
        raw = quarantine_store.raw_message(request.app.state.stores.blobs, message)
    except quarantine_store.QuarantineError:
        return None
    return view_message(raw, request.app.state.settings.unpack)


def actor(user: Principal) -> str:
    return f"web:{user.name}"


# --- API -----------------------------------------------------------------------------------------


@api.get("/quarantine", response_model=QuarantinePage, summary="Search kept messages, newest first")
def list_quarantine(
    user: Viewer,
    db: DbDep,
    state: ListState = ListState.QUARANTINED,
    since: datetime | None = None,
    until: datetime | None = None,
    sender: Annotated[str | None, Query(max_length=320)] = None,
    recipient: Annotated[str | None, Query(max_length=320)] = None,
    symbol: Annotated[str | None, Query(max_length=100)] = None,
    direction: Direction | None = None,
    q: Annotated[str | None, Query(max_length=500, description="subject substring or Message-ID")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> QuarantinePage:
    flt = _filter(state, i18n.to_utc(since), i18n.to_utc(until), sender, recipient, symbol, direction, q)
    rows, next_cursor = _search(db, flt, cursor, limit)
    return QuarantinePage(items=[present.quarantine_item(m) for m in rows], next_cursor=next_cursor)


@api.get("/messages/{queue_id}", response_model=MessageDetail, summary="Envelope, headers, verdict, attachments")
def get_message(queue_id: QueueId, user: Viewer, db: DbDep, request: Request) -> MessageDetail:
    message = _load(db, queue_id)
    return present.message_detail(message, _view(request, message), request.app.state.settings)


@api.get("/messages/{queue_id}/text", response_model=MessageText, summary="Body as plain text (HTML sanitized)")
def get_message_text(queue_id: QueueId, user: Analyst, db: DbDep, request: Request) -> MessageText:
    message = _load(db, queue_id)
    view = _view(request, message)
    return MessageText(queue_id=queue_id, text=view.text if view else "", truncated=view.truncated if view else False)


@api.get(
    "/messages/{queue_id}/raw",
    summary="The raw message as a download (never displayed inline)",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_raw(queue_id: QueueId, user: Analyst, db: DbDep, request: Request) -> Response:
    return _raw_response(db, request, queue_id, user)


@api.post("/quarantine/{queue_id}/release", response_model=OperationResult, summary="Release to the recipients")
async def release_one(queue_id: QueueId, body: ReasonIn, user: Analyst, request: Request) -> OperationResult:
    return _succeeded(await _operate(request, Operation.RELEASE, queue_id, body.reason, user), request)


@api.post("/quarantine/{queue_id}/delete", response_model=OperationResult, summary="Delete a kept message")
async def delete_one(queue_id: QueueId, body: ReasonIn, user: Analyst, request: Request) -> OperationResult:
    return _succeeded(await _operate(request, Operation.DELETE, queue_id, body.reason, user), request)


def _succeeded(result: OperationResult, request: Request) -> OperationResult:
    """One message: a failure is an HTTP error (404 unknown, 409 not in a state that allows it), never 200 ok=false.
    Bulk operations answer per message instead."""
    if result.ok:
        return result
    with request.app.state.sessions() as db:
        known = db.get(Message, result.queue_id) is not None
    raise HTTPException(409 if known else 404, result.error or "failed")


@api.post("/quarantine/bulk", response_model=BulkResult, summary="Release or delete several messages")
async def bulk(body: BulkIn, user: Analyst, request: Request) -> BulkResult:
    results = [await _operate(request, body.operation, qid, body.reason, user) for qid in dict.fromkeys(body.queue_ids)]
    return BulkResult(results=results)


async def _operate(request: Request, operation: Operation, queue_id: str, reason: str, user: Principal):
    service = request.app.state.quarantine
    run = service.release if operation is Operation.RELEASE else service.delete
    try:
        state = await run(queue_id=queue_id, actor=actor(user), reason=reason)
    except ActionError as exc:
        return OperationResult(queue_id=queue_id, ok=False, error=str(exc))
    return OperationResult(queue_id=queue_id, ok=True, state=state)


def _raw_response(db, request: Request, queue_id: str, user: Principal) -> Response:
    message = _load(db, queue_id)
    try:
        raw = quarantine_store.raw_message(request.app.state.stores.blobs, message)
    except quarantine_store.QuarantineError as exc:
        raise HTTPException(404, str(exc)) from exc
    message.audit.append(AuditEvent(actor=actor(user), event="downloaded", reason="raw message download"))
    db.commit()
    return Response(
        raw,
        media_type="application/octet-stream",
        headers={
            # A fixed ASCII name: the mail's subject never reaches a header.
            "Content-Disposition": f'attachment; filename="{queue_id}.eml.bin"',
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- pages ---------------------------------------------------------------------------------------


@pages.get("/quarantine")
def quarantine_page(
    request: Request,
    user: Viewer,
    db: DbDep,
    state: str = "quarantined",
    since: str = "",
    until: str = "",
    sender: str = "",
    recipient: str = "",
    symbol: str = "",
    direction: str = "",
    q: str = "",
    cursor: str = "",
    done: str = "",
):
    tz = i18n.zone(user.time_zone, request.app.state.web.time_zone)
    state = state if state in {s.value for s in ListState} else "quarantined"
    direction = direction if direction in {d.value for d in Direction} else ""
    flt = _filter(state, i18n.parse_local_time(since, tz), i18n.parse_local_time(until, tz),
                  sender[:320], recipient[:320], symbol[:100], direction, q[:500])
    try:
        rows, next_cursor = queries.search_messages(db, flt, cursor=cursor or None, limit=request.app.state.web.page_size)
    except ValueError:
        rows, next_cursor = queries.search_messages(db, flt, limit=request.app.state.web.page_size)
    params = dict(state=state, since=since, until=until, sender=sender, recipient=recipient, symbol=symbol,
                  direction=direction, q=q)
    next_url = "/quarantine?" + urlencode({**params, "cursor": next_cursor}) if next_cursor else None
    return render(
        request, "quarantine.html", user, rows=rows, params=params, next_url=next_url, first=not cursor,
        first_url="/quarantine?" + urlencode(params), states=[s.value for s in ListState],
        directions=[d.value for d in Direction], done=done[:200], can_act=user.allows_analyst,
    )


@pages.post("/quarantine/bulk")
async def bulk_form(request: Request, user: Analyst):
    form = await request.form()
    try:
        body = BulkIn(operation=form.get("operation", ""), queue_ids=form.getlist("queue_id"),
                      reason=form.get("reason", ""))
    except ValidationError as exc:
        raise HTTPException(422, _first_error(exc)) from exc
    results = [await _operate(request, body.operation, qid, body.reason, user) for qid in dict.fromkeys(body.queue_ids)]
    ok = sum(r.ok for r in results)
    back = str(form.get("back", "/quarantine"))
    back = back if back.startswith("/quarantine") else "/quarantine"
    sep = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{sep}{urlencode({'done': f'{ok}/{len(results)} {body.operation.value}'})}", 303)


@pages.get("/quarantine/{queue_id}")
def message_page(queue_id: QueueId, request: Request, user: Viewer, db: DbDep, done: str = ""):
    message = _load(db, queue_id)
    view = _view(request, message)
    detail = present.message_detail(message, view, request.app.state.settings)
    return render(
        request, "message.html", user, m=detail, preview=view.text if view and user.allows_analyst else None,
        truncated=bool(view and view.truncated), catalogue=present.catalogue(request.app.state),
        can_act=user.allows_analyst and message.state in ("quarantined", "held"), done=done[:200],
    )


@pages.post("/quarantine/{queue_id}/{operation}")
async def act_form(
    queue_id: QueueId, operation: Operation, request: Request, user: Analyst,
    reason: Annotated[str, Form(max_length=1000)] = "",
):
    try:
        body = ReasonIn(reason=reason)
    except ValidationError as exc:
        raise HTTPException(422, _first_error(exc)) from exc
    result = await _operate(request, operation, queue_id, body.reason, user)
    done = f"{operation.value}: {result.state}" if result.ok else f"{operation.value} failed: {result.error}"
    return RedirectResponse(f"/quarantine/{queue_id}?{urlencode({'done': done})}", 303)


@pages.get("/quarantine/{queue_id}/raw")
def raw_page(queue_id: QueueId, request: Request, user: Analyst, db: DbDep) -> Response:
    return _raw_response(db, request, queue_id, user)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
