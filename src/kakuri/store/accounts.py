"""Console accounts: users with a role, API tokens, browser sessions and login throttling.

Secrets never reach the database in clear: passwords are argon2id hashes; API tokens and session ids
are random 256-bit values of which only the SHA-256 is stored (a stolen database opens no session).
There is no default account and no default password: the first admin is made with `kakuri user add`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kakuri.store.db import Base

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "kkr_"

_hasher = PasswordHasher()  # argon2id with the library's current recommended cost
# Verified against when the user does not exist, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    VIEWER = "viewer"  # reads the dashboard, lists, envelopes and verdicts
    ANALYST = "analyst"  # + message content, raw download, release/delete, audit log
    ADMIN = "admin"  # + accounts and tokens

    def allows(self, needed: Role) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2}


class AccountError(ValueError):
    """A request about accounts that cannot be met; the message is safe to show to the operator."""


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class User(Base):
    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    time_zone: Mapped[str] = mapped_column(String(64), default="")  # "" = the console default
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    disabled: Mapped[bool] = mapped_column(default=False)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class ApiToken(Base):
    __tablename__ = "web_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # None: until revoked

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and _aware(self.expires_at) <= now


class WebSession(Base):
    __tablename__ = "web_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LoginFailure(Base):
    """Failed logins per key ("user:NAME" or "ip:ADDR") in the current window."""

    __tablename__ = "web_login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# --- users -----------------------------------------------------------------------------------------


def check_password_strength(name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password.lower() == name.lower():
        raise AccountError("the password must not be the user name")


def add_user(db: Session, *, name: str, role: Role | str, password: str, time_zone: str = "") -> User:
    name = name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AccountError("a user name has 1-64 characters and no spaces")
    role = Role(role)
    check_password_strength(name, password)
    if db.scalar(select(User).where(User.name == name)):
        raise AccountError(f"user {name!r} already exists")
    user = User(name=name, role=role.value, password_hash=_hasher.hash(password), time_zone=time_zone)
    db.add(user)
    db.flush()
    return user


def set_password(db: Session, user: User, password: str) -> None:
    check_password_strength(user.name, password)
    user.password_hash = _hasher.hash(password)
    db.execute(delete(WebSession).where(WebSession.user_id == user.id))  # log out everywhere


def get_user(db: Session, name: str) -> User | None:
    return db.scalar(select(User).where(User.name == name))


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.name)))


def authenticate(db: Session, name: str, password: str) -> User | None:
    """The user if the password is right and the account enabled; the same cost either way."""
    user = get_user(db, name)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


# --- API tokens ------------------------------------------------------------------------------------


def create_token(db: Session, user: User, label: str = "", *, expires_in: timedelta | None = None) -> str:
    """A new API token for `user`, valid for `expires_in` (None: until revoked); the clear value is
    returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = _now() + expires_in if expires_in is not None else None
    db.add(ApiToken(user_id=user.id, token_sha256=_digest(token), label=label[:100], expires_at=expires_at))
    db.flush()
    return token


def list_tokens(db: Session, user: User | None = None) -> list[tuple[ApiToken, str]]:
    """Tokens (never their values) with their owner's name, oldest first."""
    query = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return [(token, name) for token, name in db.execute(query)]


def revoke_token(db: Session, token_id: int, user: User | None = None) -> bool:
    query = delete(ApiToken).where(ApiToken.id == token_id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return db.execute(query).rowcount > 0


def user_for_token(db: Session, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = db.scalar(select(ApiToken).where(ApiToken.token_sha256 == _digest(token)))
    if row is None:
        return None
    user = db.get(User, row.user_id)
    now = _now()
    if user is None or user.disabled or row.is_expired(now):
        return None
    # Once a minute is enough to see which tokens are alive; a write (and fsync) per API call is not.
    if row.last_used_at is None or _aware(row.last_used_at) < now - timedelta(minutes=1):
        row.last_used_at = now
    return user


def revoke_tokens(db: Session, user: User) -> int:
    return db.execute(delete(ApiToken).where(ApiToken.user_id == user.id)).rowcount


# --- browser sessions ------------------------------------------------------------------------------


def open_session(db: Session, user: User, lifetime: timedelta) -> tuple[str, str]:
    """(session id for the cookie, CSRF token for forms and the X-CSRF-Token header)."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    db.add(WebSession(id_sha256=_digest(session_id), user_id=user.id, csrf_token=csrf, expires_at=_now() + lifetime))
    db.flush()
    return session_id, csrf


def find_session(db: Session, session_id: str) -> tuple[User, WebSession] | None:
    row = db.get(WebSession, _digest(session_id))
    if row is None:
        return None
    if _aware(row.expires_at) <= _now():
        db.delete(row)
        return None
    user = db.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return user, row


def close_session(db: Session, session_id: str) -> None:
    db.execute(delete(WebSession).where(WebSession.id_sha256 == _digest(session_id)))


def purge_expired_sessions(db: Session) -> int:
    return db.execute(delete(WebSession).where(WebSession.expires_at <= _now())).rowcount


# --- login throttling ------------------------------------------------------------------------------


class LoginThrottle:
    """Locks a user name or a client address after `max_failures` failures within `window`.

    Each further lock doubles (up to `max_lock`), so guessing stays slow while a colleague who mistyped
    waits a minute. Both keys are checked: per-name stops guessing one account from many addresses,
    per-address stops one host spraying many names.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: timedelta = timedelta(minutes=15),
        lock: timedelta = timedelta(minutes=1),
        max_lock: timedelta = timedelta(hours=1),
    ) -> None:
        self.max_failures, self.window, self.lock, self.max_lock = max_failures, window, lock, max_lock

    @staticmethod
    def keys(name: str, client: str | None) -> list[str]:
        return [f"user:{name.strip().lower()[:100]}", f"ip:{client or '-'}"]

    def locked_until(self, db: Session, keys: list[str]) -> datetime | None:
        now = _now()
        until = [_aware(r.locked_until) for r in db.scalars(select(LoginFailure).where(LoginFailure.key.in_(keys)))
                 if r.locked_until and _aware(r.locked_until) > now]
        return max(until) if until else None

    def record_failure(self, db: Session, keys: list[str]) -> None:
        now = _now()
        for key in keys:
            row = db.get(LoginFailure, key)
            if row is None:
                row = LoginFailure(key=key, failures=0, window_start=now)
                db.add(row)
            elif _aware(row.window_start) + self.window < now and not self._is_locked(row, now):
                row.failures, row.window_start = 0, now
            row.failures += 1
            if row.failures >= self.max_failures:
                extra = row.failures - self.max_failures
                row.locked_until = now + min(self.lock * (2 ** min(extra, 16)), self.max_lock)
        db.flush()

    def record_success(self, db: Session, name: str) -> None:
        # Only the name's counter: a shared NAT address must not be cleared by one user's success.
        db.execute(delete(LoginFailure).where(LoginFailure.key == self.keys(name, None)[0]))

    @staticmethod
    def _is_locked(row: LoginFailure, now: datetime) -> bool:
        return bool(row.locked_until and _aware(row.locked_until) > now)
