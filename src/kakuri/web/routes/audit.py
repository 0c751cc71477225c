"""Audit log: every action on a message by the gateway and by people, newest first."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request

from kakuri.web import present, queries
from kakuri.web.deps import Analyst, DbDep
from kakuri.web.pages import render
from kakuri.web.schemas import AuditPage

api = APIRouter(tags=["audit"])
pages = APIRouter()

Short = Annotated[str, Query(max_length=255)]


@api.get("/audit", response_model=AuditPage, summary="Audit events, newest first (keyset paged)")
def audit_api(
    user: Analyst,
    db: DbDep,
    queue_id: Short = "",
    actor: Short = "",
    event: Short = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    try:
        rows, next_cursor = queries.audit_page(db, queue_id=queue_id, actor=actor, event=event, cursor=cursor,
                                               limit=limit)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return AuditPage(items=[present.audit_item(e) for e in rows], next_cursor=next_cursor)


@pages.get("/audit")
def audit_page(request: Request, user: Analyst, db: DbDep, queue_id: str = "", actor: str = "", event: str = "",
               cursor: str = ""):
    params = dict(queue_id=queue_id[:255], actor=actor[:255], event=event[:255])
    try:
        rows, next_cursor = queries.audit_page(db, **params, cursor=cursor or None)
    except ValueError:
        rows, next_cursor = queries.audit_page(db, **params)
    next_url = "/audit?" + urlencode({**params, "cursor": next_cursor}) if next_cursor else None
    return render(request, "audit.html", user, rows=[present.audit_item(e) for e in rows], params=params,
                  next_url=next_url)
