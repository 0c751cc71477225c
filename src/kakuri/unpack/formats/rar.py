"""RAR (v4 and v5), and the other formats libarchive reads in-process: cab, lzh.

libarchive-c keeps it in-process (no unrar per attachment; Debian's unrar is non-free). libarchive
cannot decrypt RAR, so an encrypted RAR is reported as ARCHIVE_ENCRYPTED_UNOPENED; its member names
are still listed (from `rarfile`, which parses headers in pure Python) unless the headers are encrypted.
"""

from __future__ import annotations

import io
from typing import ClassVar, Iterator

import libarchive
import rarfile

from kakuri.unpack.formats.base import CorruptArchive, EncryptedArchive, Extraction, Member, StopExtraction


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
            yield from _refuse_encrypted(data)
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


def _refuse_encrypted(data: bytes) -> Iterator[Member]:
    """Encrypted RAR: yield the member names, then raise EncryptedArchive. libarchive would hand out
    the still-encrypted bytes of stored members as if they were the content."""
    try:
        listing = rarfile.RarFile(io.BytesIO(data))
        encrypted = listing.needs_password()
    except rarfile.PasswordRequired as exc:
        raise EncryptedArchive("RAR with encrypted headers", headers=True) from exc
    except Exception:  # damaged headers: let libarchive try and report what it finds
        return
    if not encrypted:
        return
    for info in listing.infolist():
        if not info.isdir():
            yield Member(info.filename, encrypted=True)
    raise EncryptedArchive("encrypted RAR: libarchive cannot decrypt RAR")
