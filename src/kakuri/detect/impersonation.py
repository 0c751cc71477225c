"""Display-name impersonation of our staff and of known partner contacts.

Threat: BEC and Emotet lures that show "杉山 花子" or a partner contact's name while the address is a
free-mail or hijacked mailbox; display names that *contain* a trusted address ("tanaka@partner (田中)"
<x@elsewhere>) so the client shows the trusted one; Reply-To that sends the answer elsewhere.
Technique: the From (and Reply-To) display name is looked up in the directory by name keys (NFKC,
case, spacing, name order, honorifics, romaji long vowels, rapidfuzz for close Latin spellings). A
match is fine when the address is that person's, in our domains (for staff), or in the same
organisation (registrable domain) as the person's address (a partner's second mailbox). A sender that
is not in the directory but is a known correspondent (contact graph) is someone else with the same
name and stays clean; mailing-list posts (List-Id) and SaaS notices sent for a person ("杉山 花子 (via Google Drive)"
from a no-reply mailbox) count half. A colleague's address written as the
display name counts as their name (outside list mail, where list software writes `"a@ours" via List`). The address structure is read before
RFC 2047 decoding (parse.addresses).
Emits: IMPERSONATION_STAFF_NAME, IMPERSONATION_PARTNER_NAME, IMPERSONATION_ADDRESS_IN_NAME,
IMPERSONATION_REPLYTO_NAME, FROM_REPLYTO_MISMATCH.
Blind spots: names not in the directory; surname-only display names ("田中"); kanji names written in
kana or romaji when the directory has no such spelling; company-name display names; a compromised
mailbox of the real person (see thread_hijack and sender authentication).
"""

from __future__ import annotations

import re
from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, SymbolSpec
from kakuri.model.knowledge import Knowledge, Person
from kakuri.parse.addresses import (
    domain_of,
    emails_in,
    is_same_organisation,
    reply_to_of,
    sender_of,
)

_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post")
# "Hanako Sugiyama (via Google Drive)", "杉山 花子（Google ドライブ経由）", "Ann Lee via DocuSign"
_ON_BEHALF = re.compile(r"\bvia\b|経由|\bon behalf of\b|\bshared\b|さんが", re.IGNORECASE)
_DASHES = re.compile("[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
_AT_WORD = re.compile(r"\s*(?:\[at\]|\(at\)|\{at\}|＠)\s*", re.IGNORECASE)
_NOTIFIER = re.compile(r"(?:^|[._+-])(?:no-?reply|do-?not-?reply|donotreply|notifications?|notify|alerts?|mailer)"
                       r"(?:$|[._+-])", re.IGNORECASE)


class Impersonation:
    name: ClassVar[str] = "impersonation"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec(
            "IMPERSONATION_STAFF_NAME", "identity", "The From display name is one of our staff; the address is not ours"
        ),
        SymbolSpec(
            "IMPERSONATION_PARTNER_NAME",
            "identity",
            "The From display name is a known partner contact; the address is not theirs nor their organisation's",
        ),
        SymbolSpec(
            "IMPERSONATION_ADDRESS_IN_NAME",
            "identity",
            "The display name shows another organisation's address than the real sender's (ours or a known one)",
        ),
        SymbolSpec(
            "IMPERSONATION_REPLYTO_NAME",
            "identity",
            "The Reply-To display name is a directory person; its address is not theirs",
        ),
        SymbolSpec(
            "FROM_REPLYTO_MISMATCH",
            "identity",
            "From claims our or a partner's identity but replies go to an unrelated, unknown domain",
        ),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        knowledge = ctx.knowledge
        name, address = sender_of(message)
        if name:
            list_mail = _is_list_mail(message)
            by_name = self._name_finding(name, address, knowledge, list_mail)
            if by_name:
                yield by_name
            finding = self._address_in_name(name, address, knowledge)
            if finding:
                yield finding
                if not list_mail and not (by_name and by_name.symbol == "IMPERSONATION_STAFF_NAME"):
                    yield from self._colleague_address_as_name(finding.evidence["shown"], name, address, knowledge)
        for reply_name, reply_address in reply_to_of(message)[:5]:
            if reply_name and self._impostor(reply_name, reply_address, knowledge):
                yield Finding(
                    "IMPERSONATION_REPLYTO_NAME",
                    self.name,
                    evidence={"display_name": reply_name[:200], "reply_to": reply_address},
                )
            if self._reply_elsewhere(message, name, address, reply_address, knowledge):
                yield Finding(
                    "FROM_REPLYTO_MISMATCH", self.name, evidence={"from": address, "reply_to": reply_address}
                )
                break

    def _name_finding(self, name: str, address: str, knowledge: Knowledge, list_mail: bool) -> Finding | None:
        impostor_of = self._impostor(name, address, knowledge)
        if not impostor_of:
            return None
        staff = [p for p in impostor_of if p.kind == "staff"]
        symbol = "IMPERSONATION_STAFF_NAME" if staff else "IMPERSONATION_PARTNER_NAME"
        shown = staff or impostor_of
        return Finding(
            symbol,
            self.name,
            # A list post by a stranger who shares a colleague's name is the classic false positive;
            # list headers cost an attacker nothing, so they halve the finding instead of clearing it.
            weight=0.5 if list_mail or is_service_notice(name, address) else 1.0,
            evidence={
                "display_name": name[:200],
                "address": address,
                "impersonated": ", ".join(p.email for p in shown[:5]),
            },
        )

    def _impostor(self, name: str, address: str, knowledge: Knowledge) -> list[Person]:
        """The directory people this name claims to be, if the address is none of theirs; else []."""
        people = knowledge.people_named(name)
        if not people or any(_is_theirs(p, address, knowledge) for p in people):
            return []
        if knowledge.person_at(address) is None and knowledge.is_known_contact(address):
            return []  # a known correspondent who shares the name: the contact graph vouches for them
        return list(people)

    def _address_in_name(self, name: str, address: str, knowledge: Knowledge) -> Finding | None:
        best: tuple[str, bool] | None = None
        for shown in shown_addresses(name):
            if is_same_organisation(shown, address):
                continue
            domain = domain_of(shown)
            trusted = (
                knowledge.is_our_domain(domain)
                or knowledge.is_partner_domain(domain)
                or knowledge.person_at(shown) is not None
                or knowledge.is_known_contact(shown)
            )
            if best is None or (trusted and not best[1]):  # "x@partner.ex ample": the repaired form is known
                best = (shown, trusted)
        if best is None:
            return None
        shown, trusted = best
        return Finding(
            "IMPERSONATION_ADDRESS_IN_NAME",
            self.name,
            evidence={"shown": shown, "address": address, "shown_is_known": "yes" if trusted else "no"},
            weight=1.0 if trusted else 0.5,
        )

    def _colleague_address_as_name(
        self, shown: str, name: str, address: str, knowledge: Knowledge
    ) -> Iterable[Finding]:
        """`"megumi.sasaki@ours.example" <x@elsewhere>`: the reader sees a colleague, as with their name.

        List software writes `"a@ours" via List <list@host>`, hence list mail is left to
        IMPERSONATION_ADDRESS_IN_NAME alone."""
        person = knowledge.person_at(shown)
        if person is not None and person.kind == "staff" and not _is_theirs(person, address, knowledge):
            yield Finding(
                "IMPERSONATION_STAFF_NAME",
                self.name,
                evidence={"display_name": name[:200], "address": address, "impersonated": person.email},
            )

    def _reply_elsewhere(
        self, message: ParsedMessage, name: str, address: str, reply_to: str, knowledge: Knowledge
    ) -> bool:
        if is_same_organisation(reply_to, address) or _is_list_mail(message):
            return False
        reply_domain = domain_of(reply_to)
        if (
            knowledge.is_our_domain(reply_domain)
            or knowledge.is_partner_domain(reply_domain)
            or knowledge.is_known_contact(reply_to)
        ):
            return False
        domain = domain_of(address)
        claims = (
            knowledge.is_our_domain(domain)
            or knowledge.is_partner_domain(domain)
            or knowledge.person_at(address) is not None
            or bool(name and knowledge.people_named(name))
        )
        return claims


def shown_addresses(name: str) -> list[str]:
    """Addresses a display name shows, also when written to dodge a parser but not a reader:
    "t-takeuchi @ yamato-seiko.example", "nakayama@marunaka-s hoji.example", "x[at]partner.example",
    Unicode hyphens ("yamato‐seiko")."""
    found = emails_in(name)
    squeezed = _DASHES.sub("-", name)
    squeezed = _AT_WORD.sub("@", squeezed)
    squeezed = "".join(squeezed.split())
    found += [a for a in emails_in(squeezed) if a not in found]
    return found[:10]


def is_service_notice(name: str, address: str) -> bool:
    """A SaaS notice sent for a person: "<name> via <service>" from the service's no-reply mailbox."""
    return bool(_ON_BEHALF.search(name)) and bool(_NOTIFIER.search(address.partition("@")[0]))


def _is_list_mail(message: ParsedMessage) -> bool:
    return any(message.header(h) for h in _LIST_HEADERS)


def _is_theirs(person: Person, address: str, knowledge: Knowledge) -> bool:
    if address == person.email:
        return True
    if person.kind == "staff" and knowledge.is_our_domain(domain_of(address)):
        return True  # colleagues write from aliases and shared mailboxes of our domains
    return is_same_organisation(address, person.email)
