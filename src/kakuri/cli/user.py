"""`kakuri user add|list|passwd|token|disable`: console accounts (there is no default account)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Optional

import typer

from kakuri.cli import output, state
from kakuri.display import visible

user_app = typer.Typer(help="Web console accounts and API tokens.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


def _db():
    from kakuri.store.config import open_stores

    return open_stores(state.settings()).sessions


def _read_password(confirm: bool = True) -> str:
    if not sys.stdin.isatty():  # scripted: the first line of stdin
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def _fail(message: str) -> None:
    raise output.fail(message)


@user_app.command("add")
def add(
    name: str = typer.Argument(..., help="Login name"),
    role: str = typer.Option(..., "--role", help="admin | analyst | viewer"),
    time_zone: str = typer.Option("", "--time-zone", help="IANA zone for this user, e.g. Asia/Tokyo"),
) -> None:
    """Create a user; the password is prompted for, or read from the first line of stdin."""
    from kakuri.store import accounts

    if role not in {r.value for r in accounts.Role}:
        _fail("--role must be admin, analyst or viewer")
    password = _read_password()
    with _db().begin() as db:
        try:
            accounts.add_user(db, name=name, role=role, password=password, time_zone=time_zone)
        except accounts.AccountError as exc:
            _fail(str(exc))
    output.echo(f"user {name} added ({role})")


@user_app.command("passwd")
def passwd(name: str = typer.Argument(...)) -> None:
    """Set a new password (prompted or from stdin); ends the user's browser sessions."""
    from kakuri.store import accounts

    password = _read_password()
    with _db().begin() as db:
        user = accounts.get_user(db, name) or _fail(f"no user {name!r}")
        try:
            accounts.set_password(db, user, password)
        except accounts.AccountError as exc:
            _fail(str(exc))
    output.echo(f"password of {name} changed")


@user_app.command("token")
def token(
    name: str = typer.Argument(...),
    label: str = typer.Option("", "--label", help="What the token is for"),
    expires_days: Optional[float] = typer.Option(None, "--expires-days", min=0.001, help="Valid this many days (default: until revoked)"),
    revoke: bool = typer.Option(False, "--revoke", help="Revoke all tokens of the user instead"),
) -> None:
    """Print a new API token for NAME (shown once; use it as `Authorization: Bearer TOKEN`)."""
    from kakuri.store import accounts

    with _db().begin() as db:
        user = accounts.get_user(db, name) or _fail(f"no user {name!r}")
        if revoke:
            typer.echo(f"{accounts.revoke_tokens(db, user)} token(s) revoked", err=True)
            return
        expires_in = timedelta(days=expires_days) if expires_days else None
        typer.echo(accounts.create_token(db, user, label, expires_in=expires_in))


@user_app.command("tokens")
def tokens(name: Optional[str] = typer.Argument(None, help="Only this user's tokens")) -> None:
    """API tokens (never their values): id, owner, label, created, last used, expires."""
    from kakuri.store import accounts

    now = datetime.now(UTC)
    with _db().begin() as db:
        user = (accounts.get_user(db, name) or _fail(f"no user {name!r}")) if name else None
        table = output.table("id", "user", "label", "created (UTC)", "last used (UTC)", "expires (UTC)")
        for token, owner in accounts.list_tokens(db, user):
            expires = "never" if token.expires_at is None else f"{token.expires_at:%Y-%m-%d %H:%M}"
            table.add_row(str(token.id), owner, token.label, f"{token.created_at:%Y-%m-%d %H:%M}",
                          f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "-",
                          expires + (" (expired)" if token.is_expired(now) else ""))
    output.console().print(table)


@user_app.command("revoke-token")
def revoke_token(token_id: int = typer.Argument(..., help="The id `kakuri user tokens` shows")) -> None:
    """Revoke one API token."""
    from kakuri.store import accounts

    with _db().begin() as db:
        if not accounts.revoke_token(db, token_id):
            _fail(f"no token {token_id}; `kakuri user tokens` lists them")
    typer.echo(f"token {token_id} revoked")


@user_app.command("list")
def list_() -> None:
    """Users, roles and state."""
    from kakuri.store import accounts

    with _db().begin() as db:
        for user in accounts.list_users(db):
            state_ = "disabled" if user.disabled else "active"
            output.echo("\t".join(visible(v) for v in (user.name, user.role, state_, user.time_zone or "-")))


@user_app.command("disable")
def disable(name: str = typer.Argument(...), enable: bool = typer.Option(False, "--enable")) -> None:
    """Disable (or --enable) an account; a disabled account's sessions and tokens stop working."""
    from kakuri.store import accounts

    with _db().begin() as db:
        user = accounts.get_user(db, name) or _fail(f"no user {name!r}")
        user.disabled = not enable
    output.echo(f"user {name} {'enabled' if enable else 'disabled'}")
