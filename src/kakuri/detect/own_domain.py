"""Our own domain in the sender of mail that came from outside.

Threat: Emotet and BEC mail that forges one of our own addresses exactly (From: a colleague's real
address); recipients trust it more than any look-alike. Mail from an untrusted, unauthenticated
client (direction inbound) that claims one of our domains in the envelope sender or the From header is
either forged or sent for us by an outside service, and the latter passes DMARC when checks are on.
Emits: AUTH_OUR_DOMAIN_FROM_OUTSIDE.
Blind spot: without live DNS or a trusted Authentication-Results header, a legitimate service sending
in our name is flagged too, so the stock score only tags; composites quarantine it with a payload.
"""

from __future__ import annotations

from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Direction, Finding, ParsedMessage, SymbolSpec
from kakuri.parse.addresses import domain_of


class OwnDomain:
    name: ClassVar[str] = "own_domain"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("AUTH_OUR_DOMAIN_FROM_OUTSIDE", "auth", "One of our domains as sender of mail from an untrusted, unauthenticated client"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        if ctx.envelope.direction is not Direction.INBOUND or ctx.facts.get("auth.dmarc") == "pass":
            return
        claimed = {
            identity: address
            for identity, address in (("envelope", ctx.envelope.mail_from), ("from", message.from_addr))
            if address and ctx.knowledge.is_our_domain(domain_of(address))
        }
        if claimed:
            evidence = {f"{k}_sender": v for k, v in claimed.items()}
            evidence["client_ip"] = ctx.envelope.client_ip or "unknown"
            yield Finding("AUTH_OUR_DOMAIN_FROM_OUTSIDE", self.name, evidence=evidence)
