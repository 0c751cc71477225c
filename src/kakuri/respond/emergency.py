"""One-switch emergency policies, effective on every gateway worker within seconds.

Each active mode becomes a policy `Override` (decide/scoring applies it, and it only ever escalates):
- archives:      quarantine every message with an archive or disk image at any depth, whatever the verdict
- hold_outbound: hold every outbound message (accepted and kept, for release or bounce in bulk later)
- hold_sender:   hold every message from one account / sender address (envelope sender or From)
- hold_host:     hold every message submitted by one host (client IP), e.g. an infected PC

On PostgreSQL a switch reaches every node and scan worker within a second: `enable_mode`/`disable_mode`
send NOTIFY kakuri_emergency in their transaction, and each `EmergencySwitch` LISTENs on a connection of
its own and re-reads the modes when told. Polling stays as the fallback (and the only way on SQLite).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from enum import StrEnum

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from kakuri.decide.policy import Override
from kakuri.model import Action, Direction
from kakuri.store.incidents import EmergencyMode, IncidentEvent
from kakuri.store.messages import utcnow


CHANNEL = "kakuri_emergency"
POLL_SECONDS = 2.0  # without a listener (SQLite, or the listening connection is down)
POLL_SECONDS_LISTENING = 30.0  # with one: only in case a notification was missed

log = logging.getLogger(__name__)


class ModeKind(StrEnum):
    ARCHIVES = "archives"
    HOLD_OUTBOUND = "hold_outbound"
    HOLD_SENDER = "hold_sender"
    HOLD_HOST = "hold_host"


_NEEDS_VALUE = {ModeKind.HOLD_SENDER, ModeKind.HOLD_HOST}


class EmergencyError(ValueError):
    pass


def enable_mode(
    session: Session, *, kind: ModeKind, actor: str, value: str = "", reason: str = "", incident_id: int | None = None
) -> EmergencyMode:
    """Switch a mode on (idempotent: an active identical mode is returned as it is)."""
    value = _check_value(kind, value)
    existing = _active(session, kind, value)
    if existing:
        return existing
    mode = EmergencyMode(kind=kind.value, value=value, reason=reason, enabled_by=actor, incident_id=incident_id)
    session.add(mode)
    if incident_id is not None:
        session.add(IncidentEvent(incident_id=incident_id, actor=actor, kind="emergency", text=f"{describe(mode)} ON: {reason}"))
    session.flush()
    _notify(session)
    return mode


def disable_mode(session: Session, *, kind: ModeKind, actor: str, value: str = "", reason: str = "") -> int:
    """Switch a mode off; returns how many active rows were closed (0 when it was not on).
    An empty value for hold_sender / hold_host closes every switch of that kind."""
    value = _check_value(kind, value) if value.strip() or kind not in _NEEDS_VALUE else ""
    rows = session.scalars(
        select(EmergencyMode).where(EmergencyMode.kind == kind.value, EmergencyMode.disabled_at.is_(None))
    ).all()
    closed = 0
    for mode in rows:
        if value and mode.value != value:
            continue
        mode.disabled_at, mode.disabled_by = utcnow(), actor
        if mode.incident_id is not None:
            session.add(IncidentEvent(incident_id=mode.incident_id, actor=actor, kind="emergency", text=f"{describe(mode)} OFF: {reason}"))
        closed += 1
    session.flush()
    if closed:
        _notify(session)
    return closed


def _notify(session: Session) -> None:
    """Tell every listening node at commit (PostgreSQL delivers NOTIFY only when the transaction commits)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def active_modes(session: Session) -> list[EmergencyMode]:
    return list(session.scalars(select(EmergencyMode).where(EmergencyMode.disabled_at.is_(None)).order_by(EmergencyMode.id)))


def overrides_for(modes: list[EmergencyMode]) -> list[Override]:
    out: list[Override] = []
    for mode in modes:
        kind = ModeKind(mode.kind)
        if kind is ModeKind.ARCHIVES:
            out.append(Override(name="emergency.archives", when="ATTACHMENT_ARCHIVE", action=Action.QUARANTINE))
        elif kind is ModeKind.HOLD_OUTBOUND:
            out.append(Override(name="emergency.hold_outbound", when="*", action=Action.HOLD, directions=[Direction.OUTBOUND]))
        elif kind is ModeKind.HOLD_SENDER:
            out.append(Override(name=f"emergency.hold_sender:{mode.value}", when="*", action=Action.HOLD, senders=[mode.value]))
        elif kind is ModeKind.HOLD_HOST:
            out.append(Override(name=f"emergency.hold_host:{mode.value}", when="*", action=Action.HOLD, client_ips=[mode.value]))
    return out


def describe(mode: EmergencyMode) -> str:
    return f"{mode.kind}" + (f" {mode.value}" if mode.value else "")


class EmergencySwitch:
    """The gateway's view of the active modes, re-read from the database at most every `ttl_seconds`, and
    at once when a NOTIFY says they changed (PostgreSQL).

    The database is the one source of truth shared by every worker and node; the cache keeps the
    per-message cost at a dictionary lookup while a switch still takes effect within a second (NOTIFY) or
    within `ttl_seconds` (polling).
    """

    def __init__(self, sessions: sessionmaker, ttl_seconds: float = POLL_SECONDS, listen: bool = True) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._overrides: list[Override] = []
        self._listening = False
        self._closed = threading.Event()
        engine = sessions.kw.get("bind")
        if listen and engine is not None and engine.dialect.name == "postgresql":
            dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            threading.Thread(target=self._listen, args=(dsn,), daemon=True, name="emergency-listen").start()

    def overrides(self) -> list[Override]:
        now = time.monotonic()
        ttl = POLL_SECONDS_LISTENING if self._listening else self._ttl
        if now - self._loaded_at >= ttl:
            with self._lock:
                if now - self._loaded_at >= ttl:
                    self._load(now)
        return self._overrides

    def _load(self, now: float) -> None:
        try:
            with self._sessions() as session:
                self._overrides = overrides_for(active_modes(session))
        except Exception:  # keep the last known modes rather than fail open or stop mail
            pass
        self._loaded_at = now

    def _listen(self, dsn: str) -> None:
        import psycopg

        while not self._closed.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening = True
                    with self._lock:  # what changed while we were not listening
                        self._load(time.monotonic())
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            with self._lock:
                                self._load(time.monotonic())
            except Exception:
                if self._listening and not self._closed.is_set():  # once per loss, not at every retry
                    log.warning("emergency switches: LISTEN connection lost; polling every %ss", self._ttl)
            finally:
                self._listening = False
            self._closed.wait(1.0)

    def close(self) -> None:
        self._closed.set()


def _check_value(kind: ModeKind, value: str) -> str:
    value = value.strip().lower()
    if kind in _NEEDS_VALUE and not value:
        raise EmergencyError(f"{kind.value} needs a value: the sender address or the host IP to hold")
    if kind not in _NEEDS_VALUE and value:
        raise EmergencyError(f"{kind.value} takes no value")
    if kind is ModeKind.HOLD_HOST:
        try:  # compared with the client IP of every message: anything else would hold nothing, silently
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise EmergencyError(f"hold_host needs the client IP address to hold (e.g. 10.20.1.5), not {value[:100]!r}") from None
    if kind is ModeKind.HOLD_SENDER and (len(value) > 320 or not value.isprintable() or any(c.isspace() for c in value)):
        raise EmergencyError("hold_sender needs one sender address or @domain, without spaces or control characters")
    return value


def _active(session: Session, kind: ModeKind, value: str) -> EmergencyMode | None:
    return session.scalars(
        select(EmergencyMode).where(
            EmergencyMode.kind == kind.value, EmergencyMode.value == value, EmergencyMode.disabled_at.is_(None)
        )
    ).first()
