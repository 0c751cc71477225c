"""A From header written so that readers see a name while the address is hidden or missing.

Threat: `From: Microsoft account team ,_<x7@random.example>` or `From: PayPal <paypal>`: an unquoted
comma splits the display name into a mailbox of its own, or the address is a bare word, so mail
clients show the brand or a lure ("Herzlichen Glückwunsch!") as the sender and the real address
goes unseen. RFC 5322 requires every From mailbox to have a domain; honest mailers quote names.
Technique: the raw From header's mailboxes (parsed before RFC 2047 decoding, as `parse.mime` does),
any of which lacks an `@domain`.
Emits: FROM_ADDRESS_WITHOUT_DOMAIN (evidence: the mailbox, the header as written).
Blind spots: a legacy gateway writing `Doe, John <john@x.example>` unquoted looks the same, so the
symbol is weak alone and counts with a lure, a brand claim or a risky link (policy composites).
Mail from our own network (cron's `From: root`) is not judged.
"""

from __future__ import annotations

from email.utils import getaddresses
from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Direction, Finding, ParsedMessage, SymbolSpec
from kakuri.parse.addresses import raw_header_values


class SenderHeader:
    name: ClassVar[str] = "sender_header"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("FROM_ADDRESS_WITHOUT_DOMAIN", "identity",
                   "A From mailbox has no domain: the name is shown while the real address is hidden or missing"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        if ctx.envelope.direction is not Direction.INBOUND:
            return
        values = raw_header_values(message.raw, "From")
        for display, address in getaddresses(values):
            mailbox = (address or display).strip()
            if mailbox and "@" not in mailbox:
                yield Finding("FROM_ADDRESS_WITHOUT_DOMAIN", self.name, evidence={
                    "mailbox": mailbox[:100], "header": " ".join(" ".join(values).split())[:200]})
                return
