"""Named, typed limits for unpacking. Reaching one is a finding (ARCHIVE_LIMIT_EXCEEDED), never a pass."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class UnpackLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_depth: int = 8  # containers inside containers
    max_members: int = 1_000  # files extracted from one message, all levels together
    max_member_bytes: int = 64 * 1024 * 1024  # one extracted file
    max_total_bytes: int = 256 * 1024 * 1024  # everything extracted from one message
    max_ratio: float = 200.0  # uncompressed / compressed size of one member
    max_password_attempts: int = 50  # candidate passwords tried per encrypted archive
    timeout_seconds: float = 20.0  # wall time for unpacking one message
