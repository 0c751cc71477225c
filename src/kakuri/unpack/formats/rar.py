"""RAR (v4 and v5), and the other formats libarchive reads in-process: cab, lzh.

libarchive-c keeps it in-process (no unrar per attachment; Debian's unrar is non-free). libarchive
cannot decrypt RAR: an encrypted RAR (members or headers) is opened by Debian's `unar` in a box
(`external.py`), trying the message's and thread's candidate passwords; without unar, or when no
candidate opens it, it is ARCHIVE_ENCRYPTED_UNOPENED with its member names (from `rarfile`, which
parses headers in pure Python) unless the headers are encrypted too.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import ClassVar, Iterator

import libarchive
import rarfile

from kakuri.unpack.formats.base import CorruptArchive, EncryptedArchive, Extraction, Member, StopExtraction
from kakuri.unpack.formats.external import MAX_LISTING_BYTES, Box, ToolFailed, tool


class _Blocks(io.RawIOBase):
    """The entry's data blocks as a readable stream, so `Extraction.read_capped` can stop early."""

    def __init__(self, entry) -> None:
        self._blocks = entry.get_blocks()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while len(self._pending) < size or size < 0:
            block = next(self._blocks, None)
            if block is None:
                break
            self._pending += block
        if size < 0:
            size = len(self._pending)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out


class LibarchiveFormat:
    name: ClassVar[str] = "rar"

    def __init__(self, kind: str) -> None:
        self.name = kind  # type: ignore[misc]

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        if self.name == "rar":
            locked = _locked_rar(data)
            if locked is not None:
                yield from _open_encrypted(data, job, locked)
                return
        try:
            with libarchive.memory_reader(data) as archive:
                for entry in archive:
                    if not entry.isfile:
                        continue
                    size = entry.size if entry.size and entry.size > 0 else None
                    member = job.take(entry.pathname.lstrip("/") or "unnamed", lambda entry=entry: _Blocks(entry),
                                      size, len(data))
                    if member is not None:
                        yield member
        except StopExtraction:
            raise
        except libarchive.ArchiveError as exc:
            if "ncrypt" in str(exc) or "passphrase" in str(exc).lower():
                raise EncryptedArchive(str(exc)[:200], headers="header" in str(exc).lower()) from exc
            raise CorruptArchive(str(exc)[:200]) from exc


@dataclass
class _Locked:
    names: list[str] = field(default_factory=list)
    headers: bool = False  # even the names are encrypted


def _locked_rar(data: bytes) -> _Locked | None:
    """The encrypted RAR's member names; None when nothing is encrypted (or the headers are too damaged
    for rarfile: libarchive then tries and reports what it finds)."""
    try:
        listing = rarfile.RarFile(io.BytesIO(data))
        encrypted = listing.needs_password()
    except rarfile.PasswordRequired:
        return _Locked(headers=True)
    except Exception:
        return None
    if not encrypted:
        return None
    return _Locked([info.filename for info in listing.infolist() if not info.isdir()])


def _open_encrypted(data: bytes, job: Extraction, locked: _Locked) -> Iterator[Member]:
    """Try the candidates with unar; yield what the first that works extracts, or the locked names."""
    unar, lsar = tool("unar"), tool("lsar")
    if unar is None or lsar is None:
        yield from (Member(name, encrypted=True) for name in locked.names)
        raise EncryptedArchive("encrypted RAR: install Debian's unar to open it with the mail's passwords",
                               headers=locked.headers)
    job.attempt_cap = min(job.limits.max_password_attempts, job.limits.max_slow_password_attempts)
    with Box(data, job, ".rar") as box:
        chosen: dict[str, _Plan | None] = {}

        def opens(password: str) -> bool:
            if locked.headers:  # the listing itself needs the password
                current = _plan(box, lsar, password, job)
            else:  # listed once, on the first candidate (none at all: no tool runs)
                current = chosen["listing"] if "listing" in chosen else chosen.setdefault(
                    "listing", _plan(box, lsar, None, job))
            if current is None:  # header-encrypted and this candidate does not list it
                return False
            chosen["plan"] = current
            if current.refused:
                return True  # over a limit whatever the password: reported below, nothing extracted
            box.fresh_output()
            argv = [unar, "-q", "-D", "-f", "-nr", "-k", "skip", "-p", password, "-o", str(box.output), "-i",
                    str(box.input), *map(str, current.indexes)]
            return box.run(argv).returncode == 0

        password = job.try_passwords(opens)
        job.check_time()
        if password is None:
            yield from (Member(name, encrypted=True) for name in locked.names)
            raise EncryptedArchive("encrypted RAR: no candidate password opened it", headers=locked.headers)
        current = chosen["plan"]
        for name, size in current.oversized:
            job.budget.report("ARCHIVE_LIMIT_EXCEEDED", job.path, limit="max_member_bytes",
                              limit_value=job.limits.max_member_bytes, member=name, member_bytes=size)
        if current.refused:
            job.exceed(*current.refused)
        yield from box.members()


@dataclass
class _Plan:
    """What to extract: plain files by lsar index, under the member and byte budgets."""

    indexes: list[int]
    oversized: list[tuple[str, int]]
    refused: tuple | None = None  # (limit, value) when the whole archive is over a message-wide limit


def _plan(box: Box, lsar: str, password: str | None, job: Extraction) -> _Plan | None:
    argv = [lsar, "-j", *(["-p", password] if password is not None else []), str(box.input)]
    try:
        run = box.run(argv)
        listing = json.loads(run.stdout[:MAX_LISTING_BYTES]) if len(run.stdout) <= MAX_LISTING_BYTES else None
    except (ToolFailed, ValueError):
        return None
    if not isinstance(listing, dict) or listing.get("lsarError") or not isinstance(listing.get("lsarContents"), list):
        return None
    limits, budget = job.limits, job.budget
    cap = min(limits.max_member_bytes, limits.max_total_bytes - budget.total_bytes)
    indexes, oversized, total = [], [], 0
    for entry in listing["lsarContents"]:
        if not isinstance(entry, dict) or any(entry.get(k) for k in ("XADIsDirectory", "XADIsLink", "XADIsHardLink")):
            continue  # links are never extracted: a link entry must not lead a later write out of the box
        size = int(entry.get("XADFileSize") or 0)
        if size > cap:
            oversized.append((str(entry.get("XADFileName", "")), size))
            continue
        indexes.append(int(entry.get("XADIndex", len(indexes))))
        total += size
    if budget.members + len(indexes) > limits.max_members:
        return _Plan([], oversized, ("max_members", limits.max_members))
    if budget.total_bytes + total > limits.max_total_bytes:
        return _Plan([], oversized, ("max_total_bytes", limits.max_total_bytes))
    return _Plan(indexes, oversized)
