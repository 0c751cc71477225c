"""create_app(settings) -> FastAPI: the console pages and the REST API under /api/v1.

Collaborators come in through arguments (database sessions, the quarantine service) so tests and
`kakuri serve` share one process and one database; nothing is built at import time.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from kakuri.settings import Settings
from kakuri.store.accounts import LoginThrottle
from kakuri.store.config import Stores, open_stores
from kakuri.web.actions import StoreQuarantine
from kakuri.web.config import WebConfig
from kakuri.web.deps import NotAuthenticated
from kakuri.web.pages import make_templates, render

STATIC = Path(__file__).with_name("static")
SWAGGER_UI = Path(fastapi_offline.__file__).with_name("static")  # swagger-ui-bundle.js and .css, MIT
API_PREFIX = "/api/v1"


def web_config(settings: Settings) -> WebConfig:
    return WebConfig.model_validate(settings.section("web"))


def create_app(settings: Settings, *, stores: Stores | None = None, quarantine=None, reloader=None) -> FastAPI:
    """The console on `stores` (opened from settings when None). `quarantine` is the gateway's
    quarantine service that releases (delivers to the next hop) and deletes; `kakuri serve` passes its own."""
    from kakuri.web.routes import register_routes

    web = web_config(settings)
    app = FastAPI(
        title="kakuri",
        summary="Quarantine review, message trace and audit for the kakuri mail gateway",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN with an inline script: ours is /docs (routes/docs.py)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.web = web
    app.state.reloader = reloader  # receive.reload.ConfigReloader inside `kakuri serve`; None for the console alone
    if reloader is not None:
        reloader.on_reload(lambda new: _apply(app, new))
    stores = stores or open_stores(settings)
    app.state.stores = stores
    app.state.sessions = stores.sessions
    app.state.quarantine = quarantine or StoreQuarantine(stores, _spool_dir(settings))
    app.state.templates = make_templates()
    app.state.throttle = LoginThrottle(
        max_failures=web.login_max_failures, lock=timedelta(seconds=web.login_lock_seconds)
    )
    app.state.session_lifetime = timedelta(hours=web.session_hours)
    app.mount("/static/swagger", StaticFiles(directory=SWAGGER_UI), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    register_routes(app)
    _add_error_handlers(app)
    from kakuri.web.security import SecurityHeaders

    app.add_middleware(SecurityHeaders)
    return app


def _apply(app: FastAPI, settings: Settings) -> None:
    """A reloaded configuration: isolation actions and warning options are read from app.state.settings per
    request; the [web] options that are not fixed at start (time zone, language, page size) too."""
    app.state.settings = settings
    app.state.web = web_config(settings)


def _spool_dir(settings: Settings) -> Path:
    from kakuri.receive.config import SpoolConfig

    return Path(settings.home) / SpoolConfig.model_validate(settings.section("spool")).dir


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, _exc: NotAuthenticated):
        if is_api(request):
            return JSONResponse({"detail": "authentication required"}, 401, {"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if is_api(request) or exc.status_code < 400:
            return JSONResponse({"detail": exc.detail}, exc.status_code, getattr(exc, "headers", None))
        key = {403: "error.forbidden", 404: "error.not_found"}.get(exc.status_code, "error.request")
        return render(request, "error.html", None, status_code=exc.status_code, message_key=key, detail=exc.detail)
