"""Malformed or evasive MIME structure.

Threat: messages built to be parsed differently by the filter and the mail client (broken boundaries,
undecodable payloads, missing headers), hiding an attachment from the scanner.
Emits: MIME_MALFORMED (any parser defect), MIME_PARSE_FAILED (the parser gave up; nothing was scanned).
Blind spot: defects the stdlib parser repairs silently. Malformed mail is common and mostly benign, so
MIME_MALFORMED alone scores low; policy combines it with other findings.
"""

from __future__ import annotations

from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, SymbolSpec


class MimeStructure:
    name: ClassVar[str] = "mime_structure"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("MIME_MALFORMED", "mime", "The MIME structure has defects the parser had to work around"),
        SymbolSpec("MIME_PARSE_FAILED", "mime", "The message could not be parsed at all; content was not scanned"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        failed = [d for d in message.defects if d.startswith("ParseFailed")]
        if failed:
            yield Finding("MIME_PARSE_FAILED", self.name, evidence={"error": failed[0]})
        elif message.defects:
            kinds = sorted({d.split(":")[0] for d in message.defects})
            yield Finding("MIME_MALFORMED", self.name, evidence={"defects": ", ".join(kinds)[:200]})
