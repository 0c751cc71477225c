"""The SMTP envelope of one message, and its direction relative to our organisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Direction(StrEnum):
    INBOUND = "inbound"  # from outside to us
    OUTBOUND = "outbound"  # from us (trusted network or authenticated user) to outside
    INTERNAL = "internal"  # from us to us


@dataclass(frozen=True, slots=True)
class Envelope:
    mail_from: str = ""
    rcpt_tos: tuple[str, ...] = ()
    client_ip: str | None = None
    helo: str | None = None
    direction: Direction = Direction.INBOUND
    auth_user: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
