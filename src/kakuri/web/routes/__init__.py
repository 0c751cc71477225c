"""One module per resource; each has `api` (JSON under /api/v1) and/or `pages` (HTML) routers."""

from __future__ import annotations

from fastapi import FastAPI


def route_modules() -> tuple:
    from kakuri.web.routes import audit, auth, dashboard, emergency, incidents, quarantine, trace, users

    return (auth, dashboard, quarantine, trace, audit, users, incidents, emergency)


def register_routes(app: FastAPI) -> None:
    from kakuri.web.app import API_PREFIX

    for module in route_modules():
        if hasattr(module, "api"):
            app.include_router(module.api, prefix=API_PREFIX)
        if hasattr(module, "pages"):
            app.include_router(module.pages, include_in_schema=False)
