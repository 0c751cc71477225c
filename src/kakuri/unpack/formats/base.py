"""What every container format shares: the ArchiveFormat protocol, members, errors, and the budget.

A format only lists and reads; every size, ratio, count, time and password decision is taken here, in
`Extraction`, so the limits mean the same thing for zip, 7z, rar or an ISO.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterable, Iterator, Protocol

from kakuri.model import Finding
from kakuri.unpack.filetype import CONTAINER_TYPES, sniff
from kakuri.unpack.limits import UnpackLimits

DETECTOR = "unpack"
CHUNK = 1024 * 1024
HEAD = 4096  # enough to sniff a member's type


@dataclass
class Member:
    name: str
    data: bytes = b""
    truncated: bool = False  # only the head was kept (a padded member)
    encrypted: bool = False  # still encrypted: name known, content not


class ArchiveError(Exception):
    """The container cannot be (fully) read; the message says why."""


class CorruptArchive(ArchiveError):
    pass


class EncryptedArchive(ArchiveError):
    """No password opened it. `headers`: even the member names are encrypted."""

    def __init__(self, message: str = "encrypted", *, headers: bool = False) -> None:
        super().__init__(message)
        self.headers = headers


class UnsupportedArchive(ArchiveError):
    pass


class StopExtraction(Exception):
    """A message-wide limit was reached: stop reading this and every further container."""


class ArchiveFormat(Protocol):
    name: ClassVar[str]

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]: ...


@dataclass
class Budget:
    """Message-wide counters and the lazily fetched password candidates."""

    limits: UnpackLimits
    passwords: Callable[[], Iterable[str]]
    findings: list[Finding] = field(default_factory=list)
    members: int = 0
    total_bytes: int = 0
    deadline: float = 0.0
    exhausted: bool = False  # a message-wide limit was hit: nothing more is extracted
    _candidates: list[str] | None = None
    _reported: set = field(default_factory=set)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.limits.timeout_seconds

    def candidates(self) -> list[str]:
        if self._candidates is None:
            try:
                self._candidates = [p for p in self.passwords() if p]
            except Exception:  # a broken source means no candidates, not a failed scan
                self._candidates = []
        return self._candidates

    def prefer(self, password: str) -> None:
        """The password that opened one archive usually opens its siblings: try it first next time."""
        candidates = self.candidates()
        if password in candidates:
            candidates.remove(password)
        candidates.insert(0, password)

    def report(self, symbol: str, part: str | None, once: str | None = None, **evidence) -> None:
        if once is not None:
            if once in self._reported:
                return
            self._reported.add(once)
        self.findings.append(Finding(symbol, DETECTOR, part, {k: str(v) for k, v in evidence.items()}))


class Extraction:
    """One container being read: admits members under the limits and tries passwords."""

    def __init__(self, budget: Budget, path: str, size: int) -> None:
        self.budget = budget
        self.limits = budget.limits
        self.path = path
        self.size = size
        self.password: str | None = None  # set by the format when a candidate opened it
        self.attempts = 0
        self.attempt_cap = self.limits.max_password_attempts  # formats with slow key derivation lower it

    def corrupt(self, reason: str, **evidence) -> None:
        """A damaged member or structure; reported once per container, extraction goes on."""
        self.budget.report("ARCHIVE_CORRUPT", self.path, once=f"corrupt:{self.path}", error=reason[:200], **evidence)

    def check_time(self) -> None:
        if time.monotonic() > self.budget.deadline:
            self.exceed("timeout_seconds", self.limits.timeout_seconds)

    def exceed(self, limit: str, limit_value, **evidence) -> None:
        self.budget.exhausted = True
        self.budget.report("ARCHIVE_LIMIT_EXCEEDED", self.path, once=limit, limit=limit, limit_value=limit_value,
                           **evidence)
        raise StopExtraction(limit)

    def take(self, name: str, opener: Callable[[], io.RawIOBase], declared: int | None = None,
             compressed: int | None = None) -> Member | None:
        """Read one member under the caps; None when it was refused (a finding says why)."""
        budget, limits = self.budget, self.limits
        if budget.members >= limits.max_members:
            self.exceed("max_members", limits.max_members, member=name)
        self.check_time()
        cap = min(limits.max_member_bytes, limits.max_total_bytes - budget.total_bytes)
        if declared is not None and declared > cap:
            return self._oversized(name, opener, declared, compressed, cap)
        data = self.read_capped(opener(), cap + 1)
        if len(data) > cap:  # no or a lying declared size: judge it by what came out
            return self._oversized(name, lambda: io.BytesIO(data), None, compressed, cap)
        if _is_padded(data, compressed, limits):
            self._report_padded(name, len(data), compressed)
        budget.members += 1
        budget.total_bytes += len(data)
        return Member(name, data)

    def read_capped(self, stream, limit: int) -> bytes:
        chunks, got = [], 0
        while got < limit:
            chunk = stream.read(min(CHUNK, limit - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            self.check_time()
        return b"".join(chunks)

    def _oversized(self, name, opener, declared, compressed, cap) -> Member | None:
        limits = self.limits
        size = declared if declared is not None else cap + 1
        ratio = size / compressed if compressed else float("inf")
        if cap < limits.max_member_bytes and size <= limits.max_member_bytes:
            self.exceed("max_total_bytes", limits.max_total_bytes, member=name, member_bytes=size)
        if ratio < limits.max_ratio:
            self.budget.report("ARCHIVE_LIMIT_EXCEEDED", self.path, limit="max_member_bytes",
                               limit_value=limits.max_member_bytes, member=name, member_bytes=size)
            return None
        head = self.read_capped(opener(), min(limits.padded_head_bytes, cap))
        if not _is_payload(head):
            self.budget.report("ARCHIVE_BOMB", self.path, reason="ratio", member=name, member_bytes=size,
                               compressed_bytes=compressed, ratio=f"{ratio:.0f}")
            return None
        self._report_padded(name, size, compressed)
        self.budget.members += 1
        self.budget.total_bytes += len(head)
        return Member(name, head, truncated=True)

    def _report_padded(self, name: str, size: int, compressed: int | None) -> None:
        self.budget.report("ARCHIVE_PADDED_MEMBER", self.path, member=name, member_bytes=size,
                           compressed_bytes=compressed, ratio=f"{size / compressed:.0f}" if compressed else "inf")

    def try_passwords(self, opens: Callable[[str], bool]) -> str | None:
        """The first candidate for which `opens` is true, under the attempt and time limits."""
        for candidate in self.budget.candidates():
            if self.attempts >= self.attempt_cap:
                break
            self.attempts += 1
            self.check_time()
            try:
                if opens(candidate):
                    self.password = candidate
                    self.budget.prefer(candidate)
                    return candidate
            except Exception:  # a wrong key may surface as any decode error
                continue
        return None


def _is_payload(head: bytes) -> bool:
    """A document or program at the start (padding follows), rather than zeros or another archive."""
    kind = sniff(head[:HEAD])
    return kind not in ("data", "empty") and kind not in CONTAINER_TYPES


def _is_padded(data: bytes, compressed: int | None, limits: UnpackLimits) -> bool:
    if not compressed or len(data) < limits.min_ratio_check_bytes:
        return False
    return len(data) / compressed >= limits.max_ratio and _is_payload(data[:HEAD])
