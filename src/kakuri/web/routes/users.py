"""Accounts for admins: list, add, disable, issue API tokens. (The first admin comes from `kakuri user add`.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from kakuri.store import accounts
from kakuri.store.messages import as_utc
from kakuri.web.deps import Admin, DbDep
from kakuri.web.pages import render
from kakuri.web.schemas import TokenIn, TokenInfo, TokenOut, UserIn, UserOut

api = APIRouter(tags=["users"])
pages = APIRouter()

UserName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^\S+$")]


def _out(user: accounts.User) -> UserOut:
    return UserOut(name=user.name, role=user.role_enum, time_zone=user.time_zone, disabled=user.disabled,
                   created_at=as_utc(user.created_at))


def _get(db, name: str) -> accounts.User:
    user = accounts.get_user(db, name)
    if user is None:
        raise HTTPException(404, f"no user {name!r}")
    return user


@api.get("/users", response_model=list[UserOut], summary="All console accounts")
def list_users(user: Admin, db: DbDep) -> list[UserOut]:
    return [_out(u) for u in accounts.list_users(db)]


@api.post("/users", response_model=UserOut, status_code=201, summary="Add an account")
def add_user(body: UserIn, user: Admin, db: DbDep) -> UserOut:
    try:
        created = accounts.add_user(db, name=body.name, role=body.role, password=body.password)
    except accounts.AccountError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from exc
    return _out(created)


@api.post("/users/{name}/tokens", response_model=TokenOut, status_code=201, summary="Issue an API token")
def issue_token(name: UserName, body: TokenIn, user: Admin, db: DbDep) -> TokenOut:
    expires_in = timedelta(days=body.expires_days) if body.expires_days else None
    return TokenOut(token=accounts.create_token(db, _get(db, name), body.label, expires_in=expires_in))


@api.get("/tokens", response_model=list[TokenInfo], summary="Every API token (never its value), with expiry and last use")
def list_tokens(user: Admin, db: DbDep) -> list[TokenInfo]:
    return [token_info(token, owner) for token, owner in accounts.list_tokens(db)]


@api.delete("/tokens/{token_id}", status_code=204, summary="Revoke one API token")
def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**31)], user: Admin, db: DbDep) -> None:
    if not accounts.revoke_token(db, token_id):
        raise HTTPException(404, f"no token {token_id}")


def token_info(token: accounts.ApiToken, owner: str) -> TokenInfo:
    return TokenInfo(id=token.id, user=owner, label=token.label, created_at=as_utc(token.created_at),
                     last_used_at=as_utc(token.last_used_at) if token.last_used_at else None,
                     expires_at=as_utc(token.expires_at) if token.expires_at else None,
                     expired=token.is_expired(datetime.now(UTC)))


@api.post("/users/{name}/disable", response_model=UserOut, summary="Disable an account (sessions and tokens stop)")
def disable_user(name: UserName, user: Admin, db: DbDep) -> UserOut:
    if name == user.name:
        raise HTTPException(409, "you cannot disable yourself")
    target = _get(db, name)
    target.disabled = True
    return _out(target)


@pages.get("/users")
def users_page(request: Request, user: Admin, db: DbDep, error: str = ""):
    return render(request, "users.html", user, users=[_out(u) for u in accounts.list_users(db)],
                  roles=[r.value for r in accounts.Role], error=error[:300])


@pages.post("/users")
def add_user_form(
    request: Request, user: Admin, db: DbDep,
    name: Annotated[str, Form(max_length=64)], role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=1000)],
):
    try:
        accounts.add_user(db, **UserIn(name=name, role=role, password=password).model_dump())
    except (ValidationError, accounts.AccountError) as exc:
        raise HTTPException(422, str(exc).splitlines()[0]) from exc
    return RedirectResponse("/users", 303)


@pages.post("/users/{name}/token")
def token_form(name: UserName, request: Request, user: Admin, db: DbDep,
               label: Annotated[str, Form(max_length=100)] = ""):
    token = accounts.create_token(db, _get(db, name), label)
    db.commit()
    # Shown once on this response, never put in a URL (it would land in logs and history).
    return render(request, "token.html", user, token=token, owner=name)
