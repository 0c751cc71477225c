"""One module per resource; each has `api` (JSON under /api/v1) and/or `pages` (HTML) routers."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel


def route_modules() -> tuple:
    from kakuri.web.routes import audit, auth, dashboard, emergency, incidents, nodes, quarantine, trace, users

    return (auth, dashboard, quarantine, trace, audit, users, incidents, emergency, nodes)


def register_routes(app: FastAPI) -> None:
    from kakuri.web.app import API_PREFIX

    for module in route_modules():
        if hasattr(module, "api"):
            document_errors(module.api)
            app.include_router(module.api, prefix=API_PREFIX)
        if hasattr(module, "pages"):
            app.include_router(module.pages, include_in_schema=False)


class ErrorOut(BaseModel):
    detail: str | list  # a sentence; for 422 FastAPI's list of invalid fields


_ERRORS = {
    401: "No valid session or API token (`Authorization: Bearer ...`)",
    403: "The caller's role does not allow this, or the CSRF token or origin is wrong",
    404: "No such message, incident, user or token",
    409: "Not possible in the current state (e.g. already released, nothing configured)",
    422: "Invalid input: the detail says which field and why",
}


def document_errors(router: APIRouter) -> None:
    """Every API operation lists the errors it can answer, with the JSON body they all share (set before
    include_router, which builds the documented routes from these)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        codes = [401, 403, 422]
        if "{" in route.path:
            codes.append(404)
        if route.methods & {"POST", "PUT", "DELETE"}:
            codes.append(409)
        for code in codes:
            route.responses.setdefault(code, {"model": ErrorOut, "description": _ERRORS[code]})
