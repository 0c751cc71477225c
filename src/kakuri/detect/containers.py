"""Inventory: does the message carry an archive or disk image at any depth?

Threat: in an outbreak the archive itself is the risk, whatever its contents look like (new variants
beat content detection for days). This detector only records the fact, with zero stock score, so the
emergency policy "quarantine every archive" can act on it (override `when = "ATTACHMENT_ARCHIVE"`).
Emits: ATTACHMENT_ARCHIVE.
Blind spot: an archive the sniffer cannot recognise and whose name does not say so.
"""

from __future__ import annotations

from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, SymbolSpec
from kakuri.unpack.filetype import CONTAINER_TYPES

# Outlook's rich-text wrapper is a container in form only; users cannot mistake it for an archive.
_NOT_ARCHIVES = frozenset({"tnef"})
_ARCHIVE_TYPES = CONTAINER_TYPES - _NOT_ARCHIVES
_ARCHIVE_EXTENSIONS = frozenset(
    {"zip", "7z", "rar", "gz", "tgz", "bz2", "xz", "tar", "iso", "img", "vhd", "vhdx", "lzh", "cab", "ace", "arj",
     "r00", "z", "zst", "one", "jar", "wim", "dmg", "udf"}
)


class Containers:
    name: ClassVar[str] = "containers"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("ATTACHMENT_ARCHIVE", "inventory", "An archive or disk image is attached (at any depth)"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        found = [
            part.path
            for part in message.walk_parts()
            if part.true_type in _ARCHIVE_TYPES or part.extension in _ARCHIVE_EXTENSIONS
        ]
        if found:
            yield Finding("ATTACHMENT_ARCHIVE", self.name, evidence={"parts": ", ".join(found[:10])})
