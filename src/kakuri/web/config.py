"""The `[web]` section of kakuri.toml."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_LISTEN = "127.0.0.1:8025"


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: str = DEFAULT_LISTEN
    time_zone: str = "Asia/Tokyo"  # shown to users who have not chosen their own
    language: str = "en"  # "en" or "ja"; a user's Accept-Language wins when it names one we have
    session_hours: float = Field(8.0, gt=0, le=24 * 30)
    # None: Secure cookies whenever the request came over https (directly or via a trusted proxy).
    secure_cookies: bool | None = None
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])  # X-Forwarded-Proto
    login_max_failures: int = Field(5, ge=1)
    login_lock_seconds: int = Field(60, ge=1)
    page_size: int = Field(50, ge=10, le=500)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Tokyo)") from exc
        return value


def parse_listen(value: str) -> tuple[str, int]:
    """"HOST:PORT" or "[v6]:PORT" -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address {value!r} must be HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)
