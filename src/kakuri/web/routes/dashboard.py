"""Dashboard: the last hours at a glance, as SVG charts (page) and counts (API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from kakuri.store import counts
from kakuri.web import charts, i18n, present, queries
from kakuri.web.deps import DbDep, Viewer
from kakuri.web.pages import language, render
from kakuri.web.schemas import Count, Dashboard, HourBucket

api = APIRouter(tags=["dashboard"])
pages = APIRouter()

Hours = Annotated[int, Query(ge=1, le=24 * 14, description="window, in hours back from now")]


def _data(request: Request, db, hours: int) -> queries.DashboardData:
    groups = {name: spec.group for name, spec in present.catalogue(request.app.state).items()}
    with request.app.state.sessions() as folding:  # its own short transaction; readers add pending deltas anyway
        counts.fold(folding)
    return queries.dashboard(db, now=datetime.now(UTC), hours=hours, groups=groups)


@pages.get("/docs")
def api_docs(request: Request, user: Viewer):
    """The interactive API page (Swagger UI, served from here) for logged-in users."""
    return render(request, "api_docs.html", user)


@api.get("/dashboard", response_model=Dashboard, summary="Counts per hour, symbol, family, recipient, name")
def dashboard_api(request: Request, user: Viewer, db: DbDep, hours: Hours = 24) -> Dashboard:
    data = _data(request, db, hours)
    pairs = lambda items: [Count(key=k, count=c) for k, c in items]  # noqa: E731
    return Dashboard(
        since=data.since, hours=data.hours,
        per_hour=[HourBucket(hour=h, counts=c) for h, c in data.per_hour],
        symbols=pairs(data.symbols), families=pairs(data.families),
        recipients=pairs(data.recipients), impersonated=pairs(data.impersonated),
    )


@pages.get("/")
def dashboard_page(request: Request, user: Viewer, db: DbDep, hours: Hours = 24):
    data = _data(request, db, hours)
    t = i18n.translator(language(request))
    tz = i18n.zone(user.time_zone, request.app.state.web.time_zone)
    panels = [
        ("dash.symbols", data.symbols, "symbol"),
        ("dash.families", data.families, None),
        ("dash.recipients", data.recipients, "recipient"),
        ("dash.impersonated", data.impersonated, None),
    ]
    return render(
        request, "dashboard.html", user, hours=hours,
        per_hour=charts.stacked_hours(data.per_hour, tz, t("dash.per_hour")),
        panels=[(key, charts.top_bars(items, t(key)) if items else None, items, f) for key, items, f in panels],
    )
