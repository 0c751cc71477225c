"""Recursive expansion of every attachment: archives, disk images, OneNote, TNEF, under limits.

Threat: payloads hidden from scanners inside containers: encrypted zips with the password in the body
(Emotet 2020), zips of scripts, ISO/IMG with .lnk (2022), OneNote with .hta (2023), nested archives,
padded documents that outgrow scanners' size limits, and bombs meant to exhaust the gateway.
Technique: sniff every part by content, open containers with in-process libraries, put what comes out
into `Part.children` (the detectors walk them like any MIME part), try the message's candidate
passwords on encrypted ones, and turn every limit that is reached into a finding.
Emits: the ARCHIVE_* symbols of `SYMBOLS`.
Blind spots: Office OOXML/ODF are zips but are left whole (the Office detectors read them); encrypted RAR
needs Debian's unar and NTFS/UDF-only/VMDK/DMG/WIM images Debian's 7zz (both run boxed,
formats/external.py), else they are reported unscannable; a password that is neither in the message nor
offered by another PasswordSource.
"""

from __future__ import annotations

from typing import Callable, Iterable

from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec
from kakuri.unpack.filetype import CONTAINER_TYPES, DISK_IMAGE_TYPES, sniff
from kakuri.unpack.formats import format_for
from kakuri.unpack.formats.base import (
    ArchiveError,
    Budget,
    EncryptedArchive,
    Extraction,
    Member,
    StopExtraction,
    UnsupportedArchive,
)
from kakuri.unpack.limits import UnpackLimits
from kakuri.unpack.passwords import harvest_passwords

GROUP = "archive"
SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE", GROUP,
               "Encrypted archive opened with a password written in the same message (Emotet's way past scanners)"),
    SymbolSpec("ARCHIVE_ENCRYPTED", GROUP,
               "Encrypted archive opened with a password from another source (e.g. an earlier mail of the thread)"),
    SymbolSpec("ARCHIVE_ENCRYPTED_UNOPENED", GROUP,
               "Encrypted archive (or members) that no candidate password opened: contents unscanned"),
    SymbolSpec("ARCHIVE_LIMIT_EXCEEDED", GROUP,
               "An unpack limit (depth, members, bytes, time) was reached: part of the contents is unscanned"),
    SymbolSpec("ARCHIVE_BOMB", GROUP,
               "Decompression bomb: overlapping zip entries, or a member inflating far past the limits"),
    SymbolSpec("ARCHIVE_PADDED_MEMBER", GROUP,
               "Document or program padded to a huge, highly compressible size to get past scanner size limits"),
    SymbolSpec("ARCHIVE_CORRUPT", GROUP, "Container or member that cannot be read: damaged, truncated or malformed"),
    SymbolSpec("ARCHIVE_NESTED", GROUP, "Archive inside an archive"),
    SymbolSpec("ARCHIVE_DISK_IMAGE", GROUP, "Disk image (ISO, UDF, IMG, VHD...) sent by mail"),
    SymbolSpec("ARCHIVE_UNSUPPORTED", GROUP, "Container type recognised but not readable in-process: contents unscanned"),
)

# Compressors of one stream: a .tar.gz is one archive to people, not an archive inside an archive.
_SINGLE_STREAM = frozenset({"gzip", "bzip2", "xz", "zstd"})


def unpack_message(
    message: ParsedMessage, limits: UnpackLimits, passwords: Callable[[], Iterable[str]]
) -> list[Finding]:
    """Fill `Part.children` of every container in `message`; return ARCHIVE_* findings."""
    for part in message.parts:
        part.true_type = sniff(part.data)
    if not any(part.true_type in CONTAINER_TYPES for part in message.parts):
        return []
    budget = Budget(limits, passwords)
    for part in message.parts:
        if budget.exhausted:
            break
        if part.true_type in CONTAINER_TYPES:
            _expand(part, budget, message)
    return budget.findings


def unpack_part(
    part: Part, message: ParsedMessage, limits: UnpackLimits, passwords: Callable[[], Iterable[str]]
) -> list[Finding]:
    """Sniff and expand one file a detector carved out of another part (an HTML-smuggled download, ...),
    exactly as if it had been attached; return its ARCHIVE_* findings."""
    part.true_type = sniff(part.data)
    if part.true_type not in CONTAINER_TYPES:
        return []
    budget = Budget(limits, passwords)
    _expand(part, budget, message)
    return budget.findings


def _expand(part: Part, budget: Budget, message: ParsedMessage) -> None:
    kind = part.true_type or ""
    if kind in DISK_IMAGE_TYPES:
        budget.report("ARCHIVE_DISK_IMAGE", part.path, type=kind, bytes=part.size)
    fmt = format_for(kind)
    if fmt is None:
        budget.report("ARCHIVE_UNSUPPORTED", part.path, type=kind)
        return
    if part.depth >= budget.limits.max_depth:
        budget.report("ARCHIVE_LIMIT_EXCEEDED", part.path, once="max_depth", limit="max_depth",
                      limit_value=budget.limits.max_depth)
        return
    job = Extraction(budget, part.path, part.size)
    _read_members(part, fmt, job, budget)
    if job.password is not None:
        part.password = job.password
        _report_opened(part, job.password, budget, message)
    for child in part.children:
        if budget.exhausted:
            return
        if child.true_type in CONTAINER_TYPES:
            if fmt.name not in _SINGLE_STREAM:
                budget.report("ARCHIVE_NESTED", child.path, outer=fmt.name, inner=child.true_type, depth=child.depth)
            _expand(child, budget, message)


def _read_members(part: Part, fmt, job: Extraction, budget: Budget) -> None:
    locked: list[str] = []
    try:
        for member in fmt.extract(part.data, job):
            part.children.append(_child(part, member, fmt.name))
            if member.encrypted:
                locked.append(member.name)
    except StopExtraction:
        pass  # the limit's finding is already reported
    except EncryptedArchive as exc:
        part.encrypted = True
        budget.report("ARCHIVE_ENCRYPTED_UNOPENED", part.path, container=fmt.name,
                      headers_encrypted="yes" if exc.headers else "no", members=len(locked),
                      attempts=job.attempts, reason=str(exc)[:200])
        return
    except UnsupportedArchive as exc:
        budget.report("ARCHIVE_UNSUPPORTED", part.path, type=fmt.name, reason=str(exc)[:200])
        return
    except ArchiveError as exc:
        budget.report("ARCHIVE_CORRUPT", part.path, container=fmt.name, error=str(exc)[:200])
        return
    except Exception as exc:  # a library's own bug on hostile input must not cost the scan
        budget.report("ARCHIVE_CORRUPT", part.path, container=fmt.name, error=f"{type(exc).__name__}: {exc}"[:200])
        return
    if locked:
        part.encrypted = True
        budget.report("ARCHIVE_ENCRYPTED_UNOPENED", part.path, container=fmt.name, headers_encrypted="no",
                      members=len(locked), attempts=job.attempts, reason="some members stay encrypted")


def _child(parent: Part, member: Member, container: str) -> Part:
    name = member.name.replace("\\", "/").strip("/") or "unnamed"
    child = Part(
        path=f"{parent.path}/{name}",
        data=member.data,
        filename=name.rsplit("/", 1)[-1],
        is_attachment=True,
        depth=parent.depth + 1,
        container=container,
        encrypted=member.encrypted,
    )
    child.true_type = "encrypted" if member.encrypted else sniff(member.data)
    return child


def _report_opened(part: Part, password: str, budget: Budget, message: ParsedMessage) -> None:
    in_message = _appears_in(password, message)
    budget.report(
        "ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE" if in_message else "ARCHIVE_ENCRYPTED",
        part.path,
        container=part.true_type,
        password_source="this message" if in_message else "other source",
        password=password,
        members=len(part.children),
    )


def _appears_in(password: str, message: ParsedMessage) -> bool:
    """Written next to a password keyword in this message; a thread password ("2020") that merely
    occurs somewhere in the text (a date) does not count."""
    return password in harvest_passwords(f"{message.subject}\n{message.body_text}", limit=500)
