"""Domains made to look like ours or a known partner's, in the sender addresses.

Threat: mail from `tokai-keikl.example`, `tokai-keiki-jp.example`, `tokaikeiki.co` or a Cyrillic
`tоkai-keiki.example`, so that a reader takes it for a colleague or a partner they trust.
Technique: on the registrable domain (`parse.domains`), compare the name label with each known
domain's label: homoglyph skeleton equal (TR39-style skeleton: NFKC, then `confusable_homoglyphs`
for non-Latin look-alikes, then the ASCII tricks 0/o, 1/l, rn/m, vv/w), same label under another
suffix (TLD swap), hyphens added or removed, the known name plus extra words, the known domain as a
subdomain of another one, or a small edit distance (optimal string alignment, so swapped letters
count once). Exact matches and subdomains of a known domain never fire.
Emits: LOOKALIKE_OUR_DOMAIN, LOOKALIKE_PARTNER_DOMAIN (evidence: where, domain, imitates, technique), and
LOOKALIKE_KNOWN_MAILBOX when the address copies a directory person's mailbox name at the imitated domain.
`find_lookalike()` is shared with `detect.urls` (URL_LOOKALIKE_DOMAIN).
Blind spots: names shorter than five characters (too many honest near-misses), look-alikes of
domains we do not know, and look-alikes made of whole different words (`tokai-meter.example`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Iterable

from confusable_homoglyphs import confusables
from rapidfuzz.distance import OSA

from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, SymbolSpec
from kakuri.model.knowledge import Knowledge
from kakuri.parse.addresses import domain_of
from kakuri.parse.domains import is_ip_literal, normalise_host, registrable_domain, split_domain

MIN_LABEL = 5  # shorter names have too many honest neighbours at distance one
# Applied to both sides, so folding i/l/1 together catches "k1takami" for "kitakami" and "paypa1" alike.
_ASCII_TRICKS = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("|", "l"), ("i", "l"))
# Latin letters that look like other Latin letters; the confusables table only maps across scripts.
_LATIN_LOOKALIKES = {"ɑ": "a", "ı": "i", "ɡ": "g", "ȷ": "j", "ɩ": "i", "ɒ": "a", "ǀ": "l", "ŀ": "l", "ꞁ": "l"}


@dataclass(frozen=True, slots=True)
class Lookalike:
    domain: str  # the registrable domain that was seen
    imitates: str  # the known domain it resembles
    ours: bool  # True: one of our domains; False: a partner's
    technique: str  # homoglyph, tld-swap, hyphen, added-word, subdomain, edit-distance


@dataclass(frozen=True, slots=True)
class _Known:
    domain: str
    label: str
    suffix: str
    skeleton: str
    ours: bool


@lru_cache(maxsize=4096)
def _char_skeleton(char: str) -> str:
    if char in _LATIN_LOOKALIKES:
        return _LATIN_LOOKALIKES[char]
    found = confusables.is_confusable(char, preferred_aliases=["latin"], greedy=True) or []
    for entry in found:
        for glyph in entry["homoglyphs"]:
            if glyph["c"].isascii():
                return glyph["c"].lower()
    stripped = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return stripped.lower() if stripped.isascii() else char


@lru_cache(maxsize=8192)
def skeleton(label: str) -> str:
    """What the label looks like: `tоkai-keiki` (Cyrillic о) and `t0kai-keiki` both give `tokal-kelkl`."""
    text = unicodedata.normalize("NFKC", label).lower()
    text = "".join(c if c.isascii() else _char_skeleton(c) for c in text)
    for trick, plain in _ASCII_TRICKS:
        text = text.replace(trick, plain)
    return text


@lru_cache(maxsize=64)
def _known_index(ours: frozenset[str], partners: frozenset[str]) -> tuple[_Known, ...]:
    index = []
    for domains, is_ours in ((ours, True), (partners - ours, False)):
        for domain in sorted(domains):
            _, label, suffix = split_domain(domain)
            if label:
                index.append(_Known(registrable_domain(domain), label, suffix, skeleton(label), is_ours))
    return tuple(index)


def find_lookalike(host: str, knowledge: Knowledge) -> Lookalike | None:
    """The known domain `host` imitates, or None (also for known domains and their subdomains)."""
    if not host or is_ip_literal(host):
        return None
    index = _known_index(frozenset(knowledge.our_domains), frozenset(knowledge.partner_domains))
    return _match(normalise_host(host), index) if index else None


@lru_cache(maxsize=16384)
def _match(host: str, index: tuple[_Known, ...]) -> Lookalike | None:
    seen = registrable_domain(host)
    if not seen or any(seen == known.domain for known in index):
        return None
    subdomain, label, suffix = split_domain(host)
    for known in index:  # our domains come first: imitating us is the stronger finding
        technique = _technique(subdomain, label, suffix, known)
        if technique:
            return Lookalike(seen, known.domain, known.ours, technique)
    return None


def _technique(subdomain: str, label: str, suffix: str, known: _Known) -> str | None:
    if label == known.label:
        return "tld-swap" if suffix != known.suffix else None
    if len(known.label) < MIN_LABEL:
        return None
    shape = skeleton(label)
    if shape == known.skeleton:
        return "homoglyph"
    if shape.replace("-", "") == known.skeleton.replace("-", ""):
        return "hyphen"
    if known.skeleton.replace("-", "") in shape.replace("-", ""):
        return "added-word"
    if known.domain in subdomain:  # not the bare label: SaaS tenants are named like `tokai-keiki.cybozu.com`
        return "subdomain"
    allowed = 1 if len(known.label) < 10 else 2
    if OSA.distance(shape, known.skeleton, score_cutoff=allowed) <= allowed:
        return "edit-distance"
    return None


class LookalikeDomains:
    name: ClassVar[str] = "lookalike"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("LOOKALIKE_OUR_DOMAIN", "lookalike",
                   "A sender address uses a domain made to look like one of ours"),
        SymbolSpec("LOOKALIKE_PARTNER_DOMAIN", "lookalike",
                   "A sender address uses a domain made to look like a known partner's"),
        SymbolSpec("LOOKALIKE_KNOWN_MAILBOX", "lookalike",
                   "The look-alike address copies the mailbox name of a real person at the imitated domain"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        places = [("from", message.from_addr), *(("reply-to", a) for a in message.reply_to),
                  ("envelope", ctx.envelope.mail_from)]
        reported: set[str] = set()
        for where, address in places:
            hit = find_lookalike(domain_of(address), ctx.knowledge)
            if hit is None or hit.domain in reported:
                continue
            reported.add(hit.domain)
            symbol = "LOOKALIKE_OUR_DOMAIN" if hit.ours else "LOOKALIKE_PARTNER_DOMAIN"
            yield Finding(symbol, self.name, evidence={
                "where": where, "domain": hit.domain, "imitates": hit.imitates, "technique": hit.technique})
            # `kazuya.noguchi@t0kai-keiki.example` for `kazuya.noguchi@tokai-keiki.example`: a chosen victim,
            # not a company that merely has a similar name.
            copied = f"{address.rpartition('@')[0].lower()}@{hit.imitates}"
            if where != "envelope" and ctx.knowledge.person_at(copied) is not None:
                yield Finding("LOOKALIKE_KNOWN_MAILBOX", self.name, evidence={"address": address, "copies": copied})
