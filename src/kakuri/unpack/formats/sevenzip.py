"""7z via py7zr: plain, content-encrypted and header-encrypted archives.

py7zr decompresses into writer objects we supply, so every member goes into a buffer that raises as
soon as it outgrows its cap: a lying header or a bomb costs at most the cap, never the declared size.
7z derives its AES key with 2^19 SHA-256 rounds (about 0.2 s per candidate here), so candidates are
capped by `UnpackLimits.max_slow_password_attempts` as well.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import ClassVar, Iterator

import py7zr
from py7zr.io import Py7zIO, WriterFactory

from kakuri.unpack.formats.base import CorruptArchive, EncryptedArchive, Extraction, Member


class _Full(Exception):
    """A member outgrew its cap while being decompressed."""


class _CappedIO(Py7zIO):
    def __init__(self, cap: int, factory: _Factory) -> None:
        self.cap = cap
        self.factory = factory
        self.buffer = io.BytesIO()

    def write(self, s) -> int:
        factory = self.factory
        factory.written += len(s)
        if factory.written > factory.total_cap or time.monotonic() > factory.deadline:
            raise _Full()
        if self.buffer.tell() + len(s) > self.cap:
            self.buffer.write(s[: self.cap - self.buffer.tell()])
            raise _Full()
        return self.buffer.write(s)

    def read(self, size=None) -> bytes:
        return self.buffer.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buffer.seek(offset, whence)

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self.buffer.getbuffer().nbytes


class _Factory(WriterFactory):
    """Writers with a per-member cap, and a cap and deadline shared by all members of one pass."""

    def __init__(self, cap: int, total_cap: int, deadline: float) -> None:
        self.cap, self.total_cap, self.deadline = cap, total_cap, deadline
        self.written = 0
        self.products: dict[str, _CappedIO] = {}

    def create(self, filename: str) -> Py7zIO:
        product = self.products[filename] = _CappedIO(self.cap, self)
        return product


class SevenZipFormat:
    name: ClassVar[str] = "7z"

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        password = None
        try:
            infos = _listing(data, None)
        except py7zr.PasswordRequired:  # header encryption: even the names are hidden
            password = _find_password(data, job, probe=None)
            if password is None:
                raise EncryptedArchive("header-encrypted 7z, no candidate password opened it", headers=True)
            infos = _listing(data, password)
        if password is None and _needs_password(data):
            probe = min(infos, key=lambda info: info.uncompressed or 0, default=None)
            password = _find_password(data, job, probe=probe.filename if probe else None)
            if password is None:
                for info in infos:
                    yield Member(info.filename, encrypted=True)
                raise EncryptedArchive("no candidate password opened it")
        cap = min(job.limits.max_member_bytes, job.limits.max_total_bytes - job.budget.total_bytes)
        fitting = [info.filename for info in infos if (info.uncompressed or 0) <= cap]
        budget = _Budget(job.limits.max_total_bytes - job.budget.total_bytes + 1, job.budget.deadline)
        buffers = _decompress(data, password, fitting, cap + 1, budget) if fitting else {}
        for info in infos:
            compressed = info.compressed or len(data)
            if info.filename in buffers:
                buffer = buffers[info.filename]
                opener = lambda buffer=buffer: io.BytesIO(buffer)
            else:
                opener = lambda name=info.filename: io.BytesIO(
                    _decompress(data, password, [name], job.limits.padded_head_bytes, budget).get(name, b""))
            member = job.take(info.filename, opener, info.uncompressed, compressed)
            if member is not None:
                yield member


def _open(data: bytes, password: str | None) -> py7zr.SevenZipFile:
    try:
        return py7zr.SevenZipFile(io.BytesIO(data), password=password)
    except py7zr.PasswordRequired:
        raise
    except Exception as exc:  # Bad7zFile, and TypeError/KeyError from a wrong key on encrypted headers
        if password is not None:
            raise EncryptedArchive("wrong password", headers=True) from exc
        raise CorruptArchive(f"{type(exc).__name__}: {exc}") from exc


def _listing(data: bytes, password: str | None) -> list:
    with _open(data, password) as archive:
        return [info for info in archive.list() if not info.is_directory]


def _needs_password(data: bytes) -> bool:
    with _open(data, None) as archive:
        return archive.needs_password()


@dataclass
class _Budget:
    total_bytes: int
    deadline: float


def _decompress(data: bytes, password: str | None, names: list[str], cap: int, budget: _Budget,
                strict: bool = False) -> dict[str, bytes]:
    factory = _Factory(cap, budget.total_bytes, budget.deadline)
    with _open(data, password) as archive:
        try:
            archive.extract(targets=names, factory=factory)
        except _Full:
            pass  # the member that filled up keeps its first `cap` bytes; take() judges it
        except Exception as exc:
            if strict or not factory.products:
                raise CorruptArchive(f"{type(exc).__name__}: {exc}") from exc
    return {name: product.buffer.getvalue() for name, product in factory.products.items()}


def _find_password(data: bytes, job: Extraction, probe: str | None) -> str | None:
    def opens(candidate: str) -> bool:
        if probe is None:
            _listing(data, candidate)
        else:
            _decompress(data, candidate, [probe], job.limits.max_member_bytes,
                        _Budget(job.limits.max_member_bytes, job.budget.deadline), strict=True)
        return True

    job.attempt_cap = min(job.limits.max_password_attempts, job.limits.max_slow_password_attempts)
    return job.try_passwords(opens)
