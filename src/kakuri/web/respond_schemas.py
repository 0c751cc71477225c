"""API models of outbreak response: incidents, their links and timeline, warnings, emergency switches."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kakuri.respond.emergency import ModeKind
from kakuri.web.schemas import ReasonIn


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class LinkKind(StrEnum):
    HOST = "host"
    ACCOUNT = "account"
    MESSAGE = "message"
    INDICATOR = "indicator"
    CONTACT = "contact"


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(..., min_length=3, max_length=300)
    severity: Severity = Severity.HIGH
    summary: str = Field("", max_length=5000)

    @field_validator("title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if len(value.strip()) < 3:
            raise ValueError("give a title (at least 3 characters)")
        return value.strip()


class IncidentItem(BaseModel):
    id: int
    title: str
    status: str
    severity: str
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None
    hosts: int
    accounts: int
    contacts: int


class LinkOut(BaseModel):
    kind: str
    value: str
    note: str
    added_at: datetime


class EventOut(BaseModel):
    at: datetime
    actor: str
    kind: str
    text: str


class WarningOut(BaseModel):
    recipient: str
    status: str = Field(description="sent / failed by kakuri, then what the gateway did: delivered, deferred, bounced")
    queue_id: str | None
    sent_at: datetime | None


class IncidentDetail(IncidentItem):
    summary: str
    links: list[LinkOut]
    timeline: list[EventOut]
    warnings: list[WarningOut]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1, max_length=5000)


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: LinkKind
    values: list[str] = Field(..., min_length=1, max_length=1000)
    note: str = Field("", max_length=500)

    @field_validator("values")
    @classmethod
    def _clean(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip() for v in values if v.strip()]
        if not cleaned or any(len(v) > 2000 for v in cleaned):
            raise ValueError("give one to 1000 non-empty values of at most 2000 characters")
        return cleaned


class HuntEntry(BaseModel):
    """One result of `kakuri hunt --json`; only entries with verdict "infected" are linked."""

    host: str | None = Field(None, max_length=255)
    account: str | None = Field(None, max_length=320)
    verdict: str = Field(..., max_length=32)
    score: float | None = None
    evidence: list[dict[str, Any] | str] = Field(default_factory=list, max_length=200)  # Finding.as_dict()
    first_seen: str | None = Field(None, max_length=64)
    notify: list[str] = Field(default_factory=list, max_length=10_000)


class LinkCounts(BaseModel):
    host: int = 0
    account: int = 0
    contact: int = 0
    added: int = 0


class IsolateIn(ReasonIn):
    host: str = Field(..., min_length=1, max_length=255)
    dry_run: bool = Field(True, description="show what would be called; a real call needs the admin role")


class IsolationOut(BaseModel):
    action: str
    host: str
    ok: bool
    dry_run: bool
    detail: str


class WarnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: Literal["ja", "en", "both"] | None = None


class WarningPreview(BaseModel):
    recipients: list[str]
    subject: str
    charset: str
    text: str


class WarnResult(BaseModel):
    queued: int = Field(description="warnings being handed to the gateway now (status on the incident)")


class ReleaseIn(ReasonIn):
    states: list[Literal["held", "quarantined"]] = Field(["held"], min_length=1, max_length=2)
    dry_run: bool = Field(False, description="list what would be released; change nothing")


class ReleaseOut(BaseModel):
    queue_ids: list[str] = Field(description="released (or, in a dry run, that would be)")
    failed: dict[str, str] = Field(default_factory=dict, description="queue id -> why it was not released")


class ModeOut(BaseModel):
    id: int
    kind: ModeKind
    value: str
    reason: str
    enabled_at: datetime
    enabled_by: str
    incident_id: int | None


class ModeIn(ReasonIn):
    kind: ModeKind
    value: str = Field("", max_length=320, description="hold_sender: the address; hold_host: the client IP")
    incident_id: int | None = Field(None, ge=1)


class ModeOffIn(ReasonIn):
    kind: ModeKind
    value: str = Field("", max_length=320, description="empty: every switch of this kind")


class SwitchResult(BaseModel):
    closed: int
