"""The `[web]` section of kakuri.toml (where the console listens is `kakuri serve --web HOST:PORT`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_zone: str = "Asia/Tokyo"  # shown to users who have not chosen their own
    language: str = "en"  # "en" or "ja"; a user's Accept-Language wins when it names one we have
    session_hours: float = Field(8.0, gt=0, le=24 * 30)
    # None: Secure cookies whenever the request came over https (directly, or via a proxy uvicorn trusts).
    secure_cookies: bool | None = None
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
