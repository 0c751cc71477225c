"""Recursive expansion of every attachment of a message (placeholder until the formats land)."""

from __future__ import annotations

from typing import Callable, Iterable

from kakuri.model import Finding, ParsedMessage
from kakuri.unpack.limits import UnpackLimits


def unpack_message(
    message: ParsedMessage, limits: UnpackLimits, passwords: Callable[[], Iterable[str]]
) -> list[Finding]:
    """Fill `Part.children` of every container in `message`; return ARCHIVE_* findings."""
    return []


SYMBOLS: tuple = ()
