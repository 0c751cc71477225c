"""Log in, log out, who am I, and the viewer's own time zone."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from kakuri.store import accounts
from kakuri.web import i18n
from kakuri.web.deps import SESSION_COOKIE, DbDep, MaybeUser, Viewer
from kakuri.web.pages import render
from kakuri.web.schemas import Me, ProfileIn

api = APIRouter(tags=["account"])
pages = APIRouter()

# Login has no session yet, so its form is protected by a double-submit token (cookie == field):
# another site can make a browser post the form but cannot read or set our cookie.
LOGIN_CSRF_COOKIE = "kakuri_login_csrf"


def _is_secure(request: Request) -> bool:
    forced = request.app.state.web.secure_cookies
    return forced if forced is not None else request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    # Only our own paths: "//evil.example" and "/\\evil" would leave the site.
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@pages.get("/login")
def login_page(request: Request, user: MaybeUser, next: str = "/"):
    if user:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, next)


def _login_form(request: Request, next: str, error: str | None = None, status_code: int = 200):
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, status_code, login_csrf=token, next=_safe_next(next), error=error)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_is_secure(request), path="/login"
    )
    return response


@pages.post("/login")
def login(
    request: Request,
    db: DbDep,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
):
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        raise HTTPException(403, "the login form expired; reload the page")
    throttle: accounts.LoginThrottle = request.app.state.throttle
    keys = throttle.keys(name, request.client.host if request.client else None)
    if throttle.locked_until(db, keys):
        return _login_form(request, next, "login.locked", 429)
    user = accounts.authenticate(db, name, password)
    if user is None:
        throttle.record_failure(db, keys)
        db.commit()
        return _login_form(request, next, "login.failed", 401)
    throttle.record_success(db, name)
    session_id, _csrf = accounts.open_session(db, user, request.app.state.session_lifetime)
    db.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(request.app.state.session_lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_is_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@pages.post("/logout")
def logout(request: Request, user: Viewer, db: DbDep):
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        accounts.close_session(db, session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@pages.get("/profile")
def profile_page(request: Request, user: Viewer):
    return render(request, "profile.html", user, zones=_common_zones())


@pages.post("/profile")
def save_profile(request: Request, user: Viewer, db: DbDep, time_zone: Annotated[str, Form(max_length=64)] = ""):
    _set_time_zone(db, user.user_id, ProfileIn(time_zone=time_zone).time_zone)
    return RedirectResponse("/profile", status_code=303)


@api.get("/me", response_model=Me, summary="The caller's account")
def me(user: Viewer, request: Request) -> Me:
    tz = i18n.zone(user.time_zone, request.app.state.web.time_zone)
    return Me(name=user.name, role=user.role.value, time_zone=tz.key, via=user.via)


@api.put("/me/time-zone", response_model=Me, summary="Set the caller's display time zone")
def set_my_time_zone(body: ProfileIn, user: Viewer, db: DbDep) -> Me:
    _set_time_zone(db, user.user_id, body.time_zone)
    return Me(name=user.name, role=user.role.value, time_zone=body.time_zone or "", via=user.via)


def _set_time_zone(db, user_id: int, time_zone: str) -> None:
    account = db.get(accounts.User, user_id)
    account.time_zone = time_zone


def _common_zones() -> list[str]:
    return ["Asia/Tokyo", "UTC", "Asia/Seoul", "Asia/Shanghai", "Asia/Singapore", "Asia/Bangkok",
            "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles"]
