"""API input and output models (never ORM objects). Times are UTC ISO 8601; pages localise them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kakuri.store.accounts import Role


class Me(BaseModel):
    name: str
    role: Role
    time_zone: str
    via: str = Field(description="session (browser) or token (API)")


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time_zone: str = Field("", max_length=64, description='IANA zone such as "Asia/Tokyo"; "" = console default')

    @field_validator("time_zone")
    @classmethod
    def _known(cls, value: str) -> str:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError("unknown time zone") from exc
        return value


class QuarantineItem(BaseModel):
    queue_id: str
    received_at: datetime
    state: str
    direction: str
    mail_from: str
    from_header: str
    recipients: list[str]
    subject: str
    score: float | None
    symbols: list[str]
    size: int


class QuarantinePage(BaseModel):
    items: list[QuarantineItem]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next (older) page")


class Finding(BaseModel):
    symbol: str
    detector: str = ""
    part: str | None = None
    evidence: dict[str, str] = {}
    score: float | None = None


class AttachmentNode(BaseModel):
    path: str
    filename: str | None
    content_type: str
    true_type: str | None
    size: int
    sha256: str
    encrypted: bool
    container: str | None = None
    children: list[AttachmentNode] = []


class RecipientOut(BaseModel):
    address: str
    status: str
    last_reply: str
    delivered_at: datetime | None


class AuditItem(BaseModel):
    id: int
    queue_id: str
    at: datetime
    actor: str
    event: str
    reason: str
    detail: dict


class MessageDetail(QuarantineItem):
    message_id: str
    client_ip: str
    helo: str
    auth_user: str
    action: str | None
    reasons: list[str]
    findings: list[Finding]
    recipient_status: list[RecipientOut]
    headers: list[tuple[str, str]]
    attachments: list[AttachmentNode]
    history: list[AuditItem]


class MessageText(BaseModel):
    queue_id: str
    text: str = Field(description="plain-text bodies, then HTML bodies as sanitized text")
    truncated: bool


class Operation(StrEnum):
    RELEASE = "release"
    DELETE = "delete"


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=3, max_length=1000, description="why; kept in the audit log")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if len(value.strip()) < 3:
            raise ValueError("give a reason (at least 3 characters)")
        return value.strip()


class BulkIn(ReasonIn):
    operation: Operation
    queue_ids: list[str] = Field(..., min_length=1, max_length=500)


class OperationResult(BaseModel):
    queue_id: str
    ok: bool
    state: str | None = None
    error: str | None = None


class BulkResult(BaseModel):
    results: list[OperationResult]


class TraceItem(BaseModel):
    queue_id: str
    received_at: datetime
    state: str
    action: str | None
    direction: str
    mail_from: str
    subject: str
    message_id: str
    client_ip: str
    recipients: list[RecipientOut]


class TracePage(BaseModel):
    items: list[TraceItem]
    next_cursor: str | None = None


class AuditPage(BaseModel):
    items: list[AuditItem]
    next_cursor: str | None = None


class Count(BaseModel):
    key: str
    count: int


class HourBucket(BaseModel):
    hour: datetime
    counts: dict[str, int] = Field(description="messages by verdict action")


class Dashboard(BaseModel):
    since: datetime
    hours: int
    per_hour: list[HourBucket]
    symbols: list[Count]
    families: list[Count]
    recipients: list[Count]
    impersonated: list[Count]


class UserOut(BaseModel):
    name: str
    role: Role
    time_zone: str
    disabled: bool
    created_at: datetime


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=64, pattern=r"^\S+$")
    role: Role
    password: str = Field(..., min_length=10, max_length=1000)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field("", max_length=100)
    expires_days: float | None = Field(None, gt=0, le=3650, description="valid this many days; none = until revoked")


class TokenInfo(BaseModel):
    id: int
    user: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    expired: bool


class TokenOut(BaseModel):
    token: str = Field(description="shown once; send as `Authorization: Bearer <token>`")
