"""What the detectors may know about our organisation and its correspondence (read-only view).

Implemented by `kakuri.store.knowledge.KnowledgeStore` (directory, thread ledger and contact graph,
held in memory); tests pass small in-memory instances. Detectors must treat a missing piece of
knowledge (empty directory, no history) as "unknown", never as "suspicious".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence


@dataclass(frozen=True, slots=True)
class Person:
    """Someone in our directory (kind "staff") or a known external contact (kind "partner")."""

    name: str  # as the directory writes it, e.g. "杉山 花子"
    email: str  # lower case
    kind: str  # "staff" | "partner"
    other_names: tuple[str, ...] = ()  # romaji and other spellings: ("Hanako Sugiyama",)
    company: str = ""


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A conversation in the ledger: every address that appeared in From/To/Cc of its messages."""

    thread_id: str  # the earliest Message-ID we know of in the thread
    subject: str  # normalised subject
    participants: frozenset[str]
    messages: int
    last_seen: float  # unix time of its newest message


class Knowledge(Protocol):
    our_domains: frozenset[str]  # our own and group-company mail domains, lower case
    partner_domains: frozenset[str]  # domains of known external correspondents

    def is_our_domain(self, domain: str) -> bool: ...

    def is_partner_domain(self, domain: str) -> bool: ...

    def people_named(self, display_name: str) -> Sequence[Person]:
        """Directory people whose name matches (spacing, order, width, case, romaji, close spellings)."""
        ...

    def person_at(self, address: str) -> Person | None: ...

    def is_known_contact(self, address: str) -> bool:
        """The address wrote to us, or one of us wrote to it, in recorded mail."""
        ...

    def thread_by_reference(self, message_ids: Iterable[str]) -> ThreadInfo | None:
        """The known thread one of these Message-IDs (In-Reply-To, References) belongs to."""
        ...

    def threads_by_subject(self, subject: str) -> Sequence[ThreadInfo]:
        """Known threads whose normalised subject equals this (raw) subject's normalised form."""
        ...


class StaticKnowledge:
    """The smallest Knowledge: just our domains; it knows no people and no correspondence."""

    def __init__(self, our_domains=frozenset(), partner_domains=frozenset()):
        self.our_domains = frozenset(d.lower() for d in our_domains)
        self.partner_domains = frozenset(d.lower() for d in partner_domains)

    def is_our_domain(self, domain: str) -> bool:
        return _within(domain, self.our_domains)

    def is_partner_domain(self, domain: str) -> bool:
        return _within(domain, self.partner_domains)

    def people_named(self, display_name: str) -> Sequence[Person]:
        return ()

    def person_at(self, address: str) -> Person | None:
        return None

    def is_known_contact(self, address: str) -> bool:
        return False

    def thread_by_reference(self, message_ids: Iterable[str]) -> ThreadInfo | None:
        return None

    def threads_by_subject(self, subject: str) -> Sequence[ThreadInfo]:
        return ()


def _within(domain: str, domains: frozenset[str]) -> bool:
    domain = (domain or "").lower().rstrip(".")
    if domain in domains:
        return True
    return any(domain.endswith("." + d) for d in domains)
