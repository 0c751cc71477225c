"""What the detectors may know about our organisation and its correspondence (read-only view).

Implemented by `kakuri.store.knowledge`; tests pass small in-memory instances. Detectors must treat a
missing piece of knowledge (empty directory, no history) as "unknown", never as "suspicious".
"""

from __future__ import annotations

from typing import Protocol


class Knowledge(Protocol):
    our_domains: frozenset[str]  # our own and group-company mail domains, lower case
    partner_domains: frozenset[str]  # domains of known external correspondents

    def is_our_domain(self, domain: str) -> bool: ...


class StaticKnowledge:
    """The smallest Knowledge: just our domains."""

    def __init__(self, our_domains=frozenset(), partner_domains=frozenset()):
        self.our_domains = frozenset(d.lower() for d in our_domains)
        self.partner_domains = frozenset(d.lower() for d in partner_domains)

    def is_our_domain(self, domain: str) -> bool:
        domain = domain.lower().rstrip(".")
        return any(domain == d or domain.endswith("." + d) for d in self.our_domains)
