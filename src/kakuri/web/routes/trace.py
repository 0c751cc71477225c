"""Message trace: what happened to a mail (accepted, scanned, delivered, deferred, quarantined, released)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from kakuri.store import trace as trace_store
from kakuri.web import i18n, present
from kakuri.web.deps import DbDep, Viewer
from kakuri.web.pages import render
from kakuri.web.schemas import TracePage

api = APIRouter(tags=["trace"])
pages = APIRouter()

Text = Annotated[str | None, Query(max_length=500)]


@api.get("/trace", response_model=TracePage, summary="Find messages by sender, recipient, subject, Message-ID, time")
def trace_api(
    user: Viewer,
    db: DbDep,
    sender: Text = None,
    recipient: Text = None,
    subject: Text = None,
    message_id: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TracePage:
    rows = trace_store.search(
        db, sender=sender, recipient=recipient, subject=subject, message_id=message_id,
        since=i18n.to_utc(since), until=i18n.to_utc(until), limit=limit,
    )
    return TracePage(items=[present.trace_item(m) for m in rows])


@pages.get("/trace")
def trace_page(
    request: Request, user: Viewer, db: DbDep, sender: str = "", recipient: str = "", subject: str = "",
    message_id: str = "", since: str = "", until: str = "",
):
    tz = i18n.zone(user.time_zone, request.app.state.web.time_zone)
    params = dict(sender=sender[:500], recipient=recipient[:500], subject=subject[:500], message_id=message_id[:500],
                  since=since, until=until)
    searched = any(params.values())
    rows = trace_store.search(
        db, sender=params["sender"] or None, recipient=params["recipient"] or None, subject=params["subject"] or None,
        message_id=params["message_id"] or None, since=i18n.parse_local_time(since, tz),
        until=i18n.parse_local_time(until, tz), limit=200,
    ) if searched else []
    return render(request, "trace.html", user, rows=[present.trace_item(m) for m in rows], params=params,
                  searched=searched)
