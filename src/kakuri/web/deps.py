"""Annotated dependencies, so route signatures read like sentences: `def page(user: Analyst, db: DbDep)`.

Who is asking: an `Authorization: Bearer` API token (automation) or the session cookie (browser).
Every route names the least role it needs (Viewer, Analyst, Admin); state-changing requests made with
the cookie must carry the session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`).
Token requests need none: a browser never attaches a bearer token by itself.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Iterator
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPBearer
from sqlalchemy.orm import Session

from kakuri.store import accounts
from kakuri.store.accounts import Role

SESSION_COOKIE = "kakuri_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Declared so the OpenAPI document names both ways in; `_identify` reads the request itself.
_bearer = HTTPBearer(auto_error=False, description="API token from `kakuri user token NAME`")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="browser session (plus X-CSRF-Token)")


class NotAuthenticated(Exception):
    """No valid session or token: 401 for the API, a redirect to the login page for pages."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, detached from the database session."""

    user_id: int
    name: str
    role: Role
    time_zone: str
    via: str  # "session" | "token"
    csrf_token: str | None = None

    def allows(self, needed: Role) -> bool:
        return self.role.allows(needed)

    @property
    def allows_analyst(self) -> bool:
        return self.role.allows(Role.ANALYST)

    @property
    def is_admin(self) -> bool:
        return self.role.allows(Role.ADMIN)


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as db:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


DbDep = Annotated[Session, Depends(get_db)]


def _identify(request: Request, db: Session) -> Principal | None:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        user = accounts.user_for_token(db, token.strip()) if scheme.lower() == "bearer" else None
        return _principal(user, "token") if user else None
    session_id = request.cookies.get(SESSION_COOKIE)
    found = accounts.find_session(db, session_id) if session_id else None
    if not found:
        return None
    user, row = found
    return _principal(user, "session", row.csrf_token)


def _principal(user: accounts.User, via: str, csrf: str | None = None) -> Principal:
    return Principal(user.id, user.name, user.role_enum, user.time_zone, via, csrf)


def optional_principal(
    request: Request, db: DbDep, _token=Depends(_bearer), _session=Depends(_cookie)
) -> Principal | None:
    principal = _identify(request, db)
    db.commit()  # token last-use time, expired-session cleanup
    return principal


async def _check_csrf(request: Request, principal: Principal) -> None:
    if request.method in SAFE_METHODS or principal.via != "session":
        return
    if not _same_origin(request):
        raise HTTPException(403, "cross-site request refused")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get("csrf_token")
    if not isinstance(sent, str) or not secrets.compare_digest(sent, principal.csrf_token or ""):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


def _same_origin(request: Request) -> bool:
    """Browsers send Origin on cross-site posts; when present it must be us."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def allow(needed: Role):
    async def dependency(request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]):
        if principal is None:
            raise NotAuthenticated()
        if not principal.allows(needed):
            raise HTTPException(403, f"this needs the {needed.value} role")
        await _check_csrf(request, principal)
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(allow(Role.VIEWER))]
Analyst = Annotated[Principal, Depends(allow(Role.ANALYST))]
Admin = Annotated[Principal, Depends(allow(Role.ADMIN))]
MaybeUser = Annotated[Principal | None, Depends(optional_principal)]
