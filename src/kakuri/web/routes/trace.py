"""Message trace: what happened to a mail (accepted, scanned, delivered, deferred, quarantined, released)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request

from kakuri.store import trace as trace_store
from kakuri.web import i18n, present, queries
from kakuri.web.deps import DbDep, Viewer
from kakuri.web.pages import render
from kakuri.web.schemas import TracePage

api = APIRouter(tags=["trace"])
pages = APIRouter()

Text = Annotated[str | None, Query(max_length=500)]
PAGE = 200


def _page(db, limit: int, cursor: str | None, **criteria):
    """(rows, cursor of the next older page or None): keyset on (received_at, queue_id)."""
    rows = trace_store.search(db, before=queries.decode_cursor(cursor), limit=limit + 1, **criteria)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, queries.encode_cursor(rows[-1].received_at, rows[-1].queue_id) if more else None


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
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TracePage:
    try:
        rows, next_cursor = _page(
            db, limit, cursor, sender=sender, recipient=recipient, subject=subject, message_id=message_id,
            since=i18n.to_utc(since), until=i18n.to_utc(until),
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return TracePage(items=[present.trace_item(m) for m in rows], next_cursor=next_cursor)


@pages.get("/trace")
def trace_page(
    request: Request, user: Viewer, db: DbDep, sender: str = "", recipient: str = "", subject: str = "",
    message_id: str = "", since: str = "", until: str = "", cursor: str = "",
):
    tz = i18n.zone(user.time_zone, request.app.state.web.time_zone)
    params = dict(sender=sender[:500], recipient=recipient[:500], subject=subject[:500], message_id=message_id[:500],
                  since=since, until=until)
    searched = any(params.values())
    rows, next_cursor = [], None
    if searched:
        criteria = {
            "sender": params["sender"] or None, "recipient": params["recipient"] or None,
            "subject": params["subject"] or None, "message_id": params["message_id"] or None,
            "since": i18n.parse_local_time(since, tz), "until": i18n.parse_local_time(until, tz),
        }
        try:
            rows, next_cursor = _page(db, PAGE, cursor[:200] or None, **criteria)
        except ValueError:  # a damaged cursor: start again from the newest
            rows, next_cursor = _page(db, PAGE, None, **criteria)
    next_url = "/trace?" + urlencode({**params, "cursor": next_cursor}) if next_cursor else None
    return render(request, "trace.html", user, rows=[present.trace_item(m) for m in rows], params=params,
                  searched=searched, next_url=next_url)
