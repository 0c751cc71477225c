"""Mail that claims to come from a well-known brand but comes from, and leads to, somewhere else.

Threat: "Microsoft 365", "PayPal", "三井住友カード", "ヤマト運輸" in the sender's name or the page title of a
mail sent from an unrelated (often hacked or free-mail) domain, whose links lead to a harvesting page.
Technique: brand names from `detect.brand_catalogue` are looked for in the sender identity (the From
header's display names and local parts, and the labels of the sender's domain) and, more weakly, in
the subject, the HTML <title> and image alt texts (logos). A claim counts only when no sender domain
(From, envelope sender or Return-Path) belongs to the brand, and the mail's links do not all go to the
brand (a reseller or affiliate naming the brand links to it). Links to hosts that borrow a brand's
name or domain (`paypal.com.secure-login.example`, `paypal-verify.example`) are reported on their own.
Mail *about* a brand (a newsletter mentioning Amazon, a shop taking PayPal) names it in the text, not
in the sender's identity, so only the content symbol can fire, and it needs no link to the brand at all.
Emits: BRAND_IMPERSONATION (evidence: brand, claimed_in, name, sender_domain, links), BRAND_CLAIM_IN_CONTENT
(subject / title / logo alt text), BRAND_LOOKALIKE_LINK (evidence: brand, host, technique), and
BRAND_FROM_UNALIGNED: the From address is at a brand's own domain, but the envelope sender (else the
Return-Path) is elsewhere and no link leads to the brand: a forged From, or a bulk mailer that tracks
every link (weak; sender_auth's DMARC result is the real proof when DNS is available).
Publishes `brand.claimed` (brand keys) for other detectors.
A verified DKIM signature of the brand's domain (`auth.dkim_domains`, from sender_auth) clears the sender.
Blind spots: brands missing from the data files; a spoofed From of the brand's own domain (sender_auth's
job); brand claims drawn only in images.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Iterable

from kakuri.detect.attachment_links import attachment_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.brand_catalogue import BrandCatalogue, load_brands
from kakuri.detect.link_destinations import Destinations, load_destinations
from kakuri.model import Finding, ParsedMessage, SymbolSpec
from kakuri.parse.domains import registrable_domain
from kakuri.parse.redirects import redirect_targets
from kakuri.parse.urls import message_urls

FACT = "brand.claimed"
MAX_LINKS = 60  # links judged per message for brand ownership; a lure has a few
_ADDRESS = re.compile(r"[\w.+%'-]*@([\w-]+(?:\.[\w-]+)+)", re.UNICODE)
_TITLE = re.compile(r"<title[^>]*>([^<]{1,300})</title", re.IGNORECASE)
_ALT = re.compile(r"<img\b[^>]*?\balt\s*=\s*[\"']([^\"'<>]{2,120})[\"']", re.IGNORECASE)
_MAX_HTML_SCAN = 300_000
# "ABC家具 楽天市場店", "XYZ Yahoo!店": a shop's storefront on a marketplace names the shop, not the marketplace.
_STOREFRONT = re.compile(r"[^\s<>\"',()（）]*店(?=[\s<>\"',()（）]|$)")


class BrandImpersonation:
    name: ClassVar[str] = "brand_impersonation"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("BRAND_IMPERSONATION", "brand",
                   "The sender's name or address claims a well-known brand, but neither the sender's domain "
                   "nor the links belong to it"),
        SymbolSpec("BRAND_CLAIM_IN_CONTENT", "brand",
                   "The subject, page title or a logo names a well-known brand, the sender is not the brand "
                   "and no link goes to it"),
        SymbolSpec("BRAND_FROM_UNALIGNED", "brand",
                   "The From address is at a brand's domain, but the envelope sender and every link are elsewhere"),
        SymbolSpec("BRAND_LOOKALIKE_LINK", "brand",
                   "A link's host borrows a well-known brand's name or domain without belonging to it"),
    )

    def __init__(self, brand_folder: Path | None = None, destination_folder: Path | None = None,
                 catalogue: BrandCatalogue | None = None, destinations: Destinations | None = None) -> None:
        self.catalogue = catalogue or load_brands(brand_folder)
        self.destinations = destinations or load_destinations(destination_folder)

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        links = self._link_hosts(message, ctx)
        # Our and our partners' sites are known: a partner named after a brand word ("Yamato Seiko") is not it.
        yield from self._lookalike_links([h for h in links if not _known_domain(h, ctx)])
        senders = _sender_domains(message, ctx)
        if senders and (_known_domain(senders[0], ctx) or ctx.knowledge.is_known_contact(message.from_addr)):
            return  # a correspondent we know writes as themselves, whatever their company is called
        claimed: list[str] = []
        for brand, where, name in self._sender_claims(message, senders):
            if brand in claimed or self._sender_is_brand(brand, senders) or self._signed_by_brand(brand, ctx):
                continue
            to_brand = sum(1 for host in links if self._is_brand_link(brand, host))
            claimed.append(brand)
            # Half weight when every link goes to the brand (a reseller or affiliate naming it, or a lure that
            # wants a reply or a call) or when the sender is a free mailbox at the brand's own mail service.
            doubtful = (links and to_brand == len(links)) or self._brand_mailbox(brand, senders)
            yield Finding("BRAND_IMPERSONATION", self.name, weight=0.5 if doubtful else 1.0, evidence={
                "brand": brand, "claimed_in": where, "name": name[:100], "sender_domain": ", ".join(senders)[:200],
                "links": str(len(links)), "links_to_brand": str(to_brand)})
        for brand, where, name in self._content_claims(message):
            if brand in claimed or self._sender_is_brand(brand, senders):
                continue
            if any(self._is_brand_link(brand, host) for host in links):
                continue  # mail about the brand links to it; a lure leads elsewhere
            claimed.append(brand)
            yield Finding("BRAND_CLAIM_IN_CONTENT", self.name, evidence={
                "brand": brand, "claimed_in": where, "name": name[:100],
                "sender_domain": ", ".join(senders)[:200], "links": str(len(links))})
            break
        unaligned = self._unaligned_from(message, ctx, links)
        if unaligned:
            claimed.append(unaligned[0])
            yield Finding("BRAND_FROM_UNALIGNED", self.name, evidence={
                "brand": unaligned[0], "from_domain": unaligned[1], "envelope_domain": unaligned[2],
                "links": str(len(links))})
        if claimed:
            ctx.facts[FACT] = claimed

    def _unaligned_from(self, message: ParsedMessage, ctx: ScanContext,
                        links: list[str]) -> tuple[str, str, str] | None:
        from_domain = message.from_addr.rpartition("@")[2]
        brand = self.catalogue.owner(from_domain) if from_domain else None
        envelope = _envelope_domain(message, ctx)
        if not brand or not envelope or not links or self.catalogue.owns(brand, envelope):
            return None
        if ctx.facts.get("auth.dmarc") == "pass" or self._signed_by_brand(brand, ctx):
            return None
        if message.header("List-Id") or message.header("List-Post"):
            return None  # a mailing list resends a member's post with its own envelope sender
        if any(self._is_brand_link(brand, host) for host in links):
            return None
        return brand, from_domain, envelope

    def _link_hosts(self, message: ParsedMessage, ctx: ScanContext) -> list[str]:
        """Hosts of the clickable links, each link's innermost redirect target standing for it."""
        hosts: list[str] = []
        for url in [*message_urls(message), *attachment_urls(ctx)]:
            if not url.host or url.source in ("img", "iframe", "frame", "embed", "script", "object"):
                continue
            targets = redirect_targets(url)
            hosts.append((targets[-1] if targets else url).host)
            if len(hosts) >= MAX_LINKS:
                break
        return list(dict.fromkeys(hosts))

    def _lookalike_links(self, hosts: list[str]) -> Iterable[Finding]:
        for host in hosts:
            claim = self.catalogue.host_claim(host)
            if claim:
                yield Finding("BRAND_LOOKALIKE_LINK", self.name, evidence={
                    "brand": claim.brand, "host": host, "token": claim.token, "technique": claim.technique})
                return

    def _sender_claims(self, message: ParsedMessage, senders: list[str]) -> Iterable[tuple[str, str, str]]:
        from_header = message.header("From") or ""
        identity = _ADDRESS.sub(lambda m: m.group(0).partition("@")[0], from_header)
        identity = _STOREFRONT.sub(" ", identity)
        for brand, name in self.catalogue.claims(identity):
            yield brand, "sender name", name
        for domain in senders[:1]:  # the From domain; the envelope's is often a bulk mailer's
            claim = self.catalogue.host_claim(domain)
            if claim:
                yield claim.brand, "sender domain", domain

    def _content_claims(self, message: ParsedMessage) -> Iterable[tuple[str, str, str]]:
        for brand, name in self.catalogue.claims(message.subject[:300]):
            yield brand, "subject", name
        for html in message.html[:3]:
            head = html[:_MAX_HTML_SCAN]
            title = _TITLE.search(head)
            if title:
                for brand, name in self.catalogue.claims(title.group(1)):
                    yield brand, "title", name
            for alt in _ALT.findall(head)[:20]:
                for brand, name in self.catalogue.claims(alt):
                    yield brand, "logo", name

    def _sender_is_brand(self, brand: str, senders: list[str]) -> bool:
        return any(self.catalogue.owns(brand, domain) for domain in senders)

    def _signed_by_brand(self, brand: str, ctx: ScanContext) -> bool:
        """A verified DKIM signature of the brand's domain: its own mail, sent through a bulk mailer."""
        return any(self.catalogue.owns(brand, d) for d in ctx.facts.get("auth.dkim_domains", ()))

    def _brand_mailbox(self, brand: str, senders: list[str]) -> bool:
        """A free mailbox at the brand's own service (`staff@hotmail.com` for Microsoft): the brand, or anyone."""
        domains = self.catalogue.brands[brand].domains
        return any(registrable_domain(d) in self.catalogue.shared_mail_domains and registrable_domain(d) in domains
                   for d in senders)

    def _is_brand_link(self, brand: str, host: str) -> bool:
        """The brand's own site; its user-content hosts (a SharePoint tenant, a Drive file) are anyone's."""
        return self.catalogue.owns(brand, host) and not self.destinations.classify(host, "")


def _known_domain(host: str, ctx: ScanContext) -> bool:
    domain = registrable_domain(host) or host
    return ctx.knowledge.is_our_domain(domain) or ctx.knowledge.is_partner_domain(domain)


def _sender_domains(message: ParsedMessage, ctx: ScanContext) -> list[str]:
    """From domains (every mailbox of the header), then the envelope sender's (or Return-Path's)."""
    domains = [m.group(1).lower().rstrip(".") for m in _ADDRESS.finditer(message.header("From") or "")]
    if message.from_addr and "@" in message.from_addr:
        domains.insert(0, message.from_addr.rpartition("@")[2])
    domains.append(_envelope_domain(message, ctx))
    return [d for d in dict.fromkeys(domains) if d and registrable_domain(d)]


def _envelope_domain(message: ParsedMessage, ctx: ScanContext) -> str:
    """The envelope sender's domain; the Return-Path header's when scanning stored mail without an envelope."""
    envelope = ctx.envelope.mail_from or (message.header("Return-Path") or "").strip().strip("<>")
    return envelope.rpartition("@")[2].lower().rstrip(">").strip() if "@" in envelope else ""
