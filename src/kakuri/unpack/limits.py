"""Named, typed limits for unpacking. Reaching one is a finding (ARCHIVE_LIMIT_EXCEEDED), never a pass."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class UnpackLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_depth: int = 8  # containers inside containers
    max_members: int = 1_000  # files extracted from one message, all levels together
    max_member_bytes: int = 64 * 1024 * 1024  # one extracted file
    max_total_bytes: int = 256 * 1024 * 1024  # everything extracted from one message
    max_ratio: float = 200.0  # uncompressed / compressed size of one member...
    min_ratio_check_bytes: int = 1024 * 1024  # ...once it is this large (blank sheets compress 1000:1)
    padded_head_bytes: int = 8 * 1024 * 1024  # the head of a padded member kept for the detectors
    max_password_attempts: int = 50  # candidate passwords tried per encrypted archive
    max_slow_password_attempts: int = 8  # ...where each costs ~0.2 s of key derivation (7z AES)
    timeout_seconds: float = 20.0  # wall time for unpacking one message
