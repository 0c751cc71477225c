"""Zip: plain (stored, deflate, bzip2, lzma), ZipCrypto and WinZip AES, via pyzipper (a zipfile fork).

Bombs are caught before inflating: declared sizes and ratios go through `Extraction.take`, and entries
whose local-header ranges overlap (David Fifield's non-recursive zip bomb reuses one compressed kernel
for thousands of entries) stop the archive with ARCHIVE_BOMB. Member names without the UTF-8 flag are
re-read as cp932, as Japanese Windows writes them.
Blind spot: a password that opens only some members; members stay encrypted if the first tried differs.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from typing import ClassVar, Iterator

import pyzipper

from kakuri.unpack.filetype import read_zip_directory
from kakuri.unpack.formats.base import CorruptArchive, EncryptedArchive, Extraction, Member, StopExtraction

_VERIFY_BYTES = 4 * 1024 * 1024  # a wrong ZipCrypto key passes the 1-byte check 1 time in 256: read on


class ZipFormat:
    name: ClassVar[str] = "zip"

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        directory = read_zip_directory(data, job.limits.max_members + 1)
        if directory is not None:
            entries, listed = directory
            spans = [(offset, compressed) for _name, offset, compressed in listed]
            if _has_overlapping_entries(data, spans):
                job.budget.report("ARCHIVE_BOMB", job.path, reason="overlapping entries", entries=entries)
                return
            if entries > job.limits.max_members:  # refused before zipfile builds every entry
                job.exceed("max_members", job.limits.max_members, declared_entries=entries)
        try:
            archive = pyzipper.AESZipFile(io.BytesIO(data))  # BytesIO shares, not copies
            infos = [info for info in archive.infolist() if not info.is_dir()]
        except (zipfile.BadZipFile, pyzipper.BadZipFile, ValueError, struct.error, OSError, EOFError) as exc:
            raise CorruptArchive(f"{type(exc).__name__}: {exc}") from exc
        locked = [info for info in infos if info.flag_bits & 0x1]
        verified: dict[str, bytes] = {}  # the probe member, already decrypted while testing passwords
        password = _find_password(data, archive, locked, job, verified) if locked else None
        if locked and password is None and len(locked) == len(infos):
            for info in locked:
                yield Member(_name(info), encrypted=True)
            raise EncryptedArchive("no candidate password opened it")
        for info in infos:
            if info.flag_bits & 0x1 and password is None:
                yield Member(_name(info), encrypted=True)
                continue
            if info.filename in verified:
                opener = lambda data=verified.pop(info.filename): io.BytesIO(data)
            else:
                opener = lambda info=info: archive.open(info, pwd=password)
            try:
                member = job.take(_name(info), opener, info.file_size, info.compress_size or 1)
            except StopExtraction:
                raise
            except Exception as exc:  # BadZipFile (CRC), zlib.error, NotImplementedError: one bad member
                job.corrupt(f"{type(exc).__name__}: {exc}", member=_name(info))
                continue
            if member is not None:
                yield member


def _find_password(data: bytes, archive, locked, job: Extraction, verified: dict[str, bytes]) -> bytes | None:
    probe = min(locked, key=lambda info: info.compress_size)
    found: list[bytes] = []

    aes = _aes_verifier(data, probe)

    def opens(candidate: str) -> bool:
        for encoded in _encodings(candidate):
            if aes is not None and not _aes_matches(aes, encoded):
                continue
            try:
                with archive.open(probe, pwd=encoded) as stream:
                    data = stream.read(_VERIFY_BYTES)  # ZipCrypto decrypts in Python: keep what we paid for
            except Exception:  # RuntimeError "Bad password", BadZipFile (CRC), zlib.error
                continue
            if len(data) < _VERIFY_BYTES:
                verified[probe.filename] = data
            found.append(encoded)
            return True
        return False

    return found[0] if job.try_passwords(opens) else None


def _aes_verifier(data: bytes, info) -> tuple[bytes, int, bytes] | None:
    """(salt, key length, 2-byte verifier) of a WinZip AES member, read from its local header.

    pyzipper derives the key in pure Python (~8 ms per candidate); hashlib's PBKDF2 tests the
    verifier in a tenth of that, so only candidates that pass it are tried for real."""
    extra, at = info.extra, 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        if tag == 0x9901 and size >= 7:
            strength = extra[at + 8]
            break
        at += 4 + size
    else:
        return None
    if strength not in (1, 2, 3):
        return None
    salt_len, key_len = 4 + 4 * strength, 8 + 8 * strength
    start = info.header_offset
    if data[start:start + 4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack_from("<HH", data, start + 26)
    body = start + 30 + name_len + extra_len
    salt, verifier = data[body:body + salt_len], data[body + salt_len:body + salt_len + 2]
    return (salt, key_len, verifier) if len(verifier) == 2 else None


def _aes_matches(aes: tuple[bytes, int, bytes], password: bytes) -> bool:
    salt, key_len, verifier = aes
    derived = hashlib.pbkdf2_hmac("sha1", password, salt, 1000, 2 * key_len + 2)
    return derived[-2:] == verifier


def _encodings(candidate: str) -> list[bytes]:
    out = [candidate.encode("utf-8")]
    try:
        cp932 = candidate.encode("cp932")
    except UnicodeEncodeError:
        return out
    return out if cp932 == out[0] else out + [cp932]


def _name(info) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("cp932")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.replace("\x00", "").replace("\\", "/").lstrip("/") or "unnamed"


def _has_overlapping_entries(data: bytes, spans: list[tuple[int, int]]) -> bool:
    """Local-file ranges that share bytes: David Fifield's construction (full or quoted overlap)."""
    ranges = []
    for start, compressed in spans:
        header = data[start:start + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            continue
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        ranges.append((start, start + 30 + name_len + extra_len + compressed))
    ranges.sort()
    return any(nxt[0] < cur[1] for cur, nxt in zip(ranges, ranges[1:]))
