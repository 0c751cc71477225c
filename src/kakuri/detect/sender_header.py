"""A From header written so that readers see a name while the address is hidden or missing.

Threat: `From: Microsoft account team ,_<x7@random.example>` or `From: PayPal <paypal>`: an unquoted
comma splits the display name into a mailbox of its own, or the address is a bare word, so mail
clients show the brand or a lure ("Herzlichen Glückwunsch!") as the sender and the real address
goes unseen. RFC 5322 requires every From mailbox to have a domain; honest mailers quote names.
Technique: the raw From header's mailboxes (parsed before RFC 2047 decoding, as `parse.mime` does),
any of which lacks an `@domain`.
Emits: FROM_ADDRESS_WITHOUT_DOMAIN (evidence: the mailbox, the header as written).
A sloppy mailer's unquoted `Doe, John <john.doe@x.example>` or `Acme, Inc. <news@acme.example>` is let
through (the split-off word is in the sender's address, or a company suffix follows the comma).
Blind spots: other unquoted names look the same, so the symbol is weak alone and counts with a lure, a
brand claim or a risky link (policy composites).
Mail from our own network (cron's `From: root`) is not judged.
"""

from __future__ import annotations

import re
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
        mailboxes = getaddresses(values)
        addresses = " ".join(a.lower() for _, a in mailboxes if "@" in a)
        for index, (display, address) in enumerate(mailboxes):
            mailbox = (address or display).strip()
            if not mailbox or "@" in mailbox:
                continue
            following = mailboxes[index + 1][0] if index + 1 < len(mailboxes) else ""
            if _is_unquoted_name(mailbox, following, addresses):
                continue
            yield Finding("FROM_ADDRESS_WITHOUT_DOMAIN", self.name, evidence={
                "mailbox": mailbox[:100], "header": " ".join(" ".join(values).split())[:200]})
            return


def _is_unquoted_name(word: str, following: str, addresses: str) -> bool:
    """`Doe, John <john.doe@x>` or `Acme, Inc. <news@acme>` written without quotes by a sloppy mailer: the
    word split off is part of the sender's own address, or what follows the comma is a company suffix."""
    word = word.lower()
    if len(word) >= 3 and word.isalnum() and word in addresses:
        return True
    return bool(_NAME_SUFFIX.match(following))


_NAME_SUFFIX = re.compile(r"(?:inc|ltd|llc|llp|co|corp|gmbh|ag|sa|bv|plc|jr|sr|ph\.?d|k\.?k)\b\.?", re.IGNORECASE)
