"""The in-memory side of organisation knowledge: directory, thread ledger, contact graph, PPAP passwords.

Everything the scanner asks per message is a dict lookup (plus one rapidfuzz pass over Latin name
keys when no exact key matched), so knowledge costs microseconds per scan. `KnowledgeStore` in
`store/knowledge.py` fills this from the database once and writes new facts through; tests build an
index directly. A ledger of 100k messages with ~5 references each takes a few tens of MB.

Not thread-safe for writers: the gateway records from one place (its event loop); readers only read.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from rapidfuzz import fuzz, process

from kakuri.model.knowledge import Person, ThreadInfo, _within
from kakuri.parse.addresses import domain_of, embedded_name_keys, is_latin_key, name_keys
from kakuri.parse.threading import normalise_subject

FUZZY_MIN_SCORE = 90.0  # rapidfuzz ratio; "Naoki Tanka" ~ "Naoki Tanaka" (95), "Endo" vs "Ando" (89) is not
FUZZY_MIN_LENGTH = 8  # shorter Latin keys differ by one letter between different people too often
_NAME_CACHE_SIZE = 4096
MAX_NAME_CHARS = 200  # longer display names are cut: no name is longer, and matching cost stays bounded


@dataclass(eq=False)
class Thread:
    first_id: str
    ids: set[str] = field(default_factory=set)
    participants: set[str] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)
    messages: int = 0
    last_seen: float = 0.0
    passwords: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)  # (time, candidates)

    def info(self) -> ThreadInfo:
        subject = min(self.subjects, key=len) if self.subjects else ""
        return ThreadInfo(self.first_id, subject, frozenset(self.participants), self.messages, self.last_seen)


@dataclass(frozen=True, slots=True)
class PasswordMail:
    """Candidate passwords seen in one recorded mail (never its body)."""

    sender: str
    recipients: frozenset[str]
    when: float
    passwords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PendingArchive:
    """A held message with an archive we could not open, waiting for its password mail."""

    key: str  # the caller's handle (quarantine id, spool id, Message-ID)
    sender: str
    recipients: frozenset[str]
    when: float
    thread_ids: tuple[str, ...]  # its own Message-ID and references


class KnowledgeIndex:
    def __init__(self, our_domains: Iterable[str] = (), partner_domains: Iterable[str] = ()) -> None:
        self.our_domains = frozenset(d.lower().strip() for d in our_domains if d.strip())
        self.partner_domains = frozenset(d.lower().strip() for d in partner_domains if d.strip())
        self._by_key: dict[str, list[Person]] = defaultdict(list)
        self._by_address: dict[str, Person] = {}
        self._latin_keys: list[str] = []
        self._name_cache: dict[str, tuple[Person, ...]] = {}
        self._thread_of: dict[str, Thread] = {}
        self._by_subject: dict[str, list[Thread]] = defaultdict(list)
        self._peers: dict[str, set[str]] = defaultdict(set)  # address -> addresses it exchanged mail with
        self._password_mail: dict[str, list[PasswordMail]] = defaultdict(list)  # by sender
        self._pending: dict[str, PendingArchive] = {}

    # -- directory -------------------------------------------------------------------------------
    def is_our_domain(self, domain: str) -> bool:
        return _within(domain, self.our_domains)

    def is_partner_domain(self, domain: str) -> bool:
        return _within(domain, self.partner_domains)

    def add_domains(self, *, ours: Iterable[str] = (), partners: Iterable[str] = ()) -> None:
        self.our_domains |= {d.lower() for d in ours}
        self.partner_domains |= {d.lower() for d in partners}

    def add_person(self, person: Person) -> None:
        self._by_address[person.email] = person
        for name in (person.name, *person.other_names):
            for key in name_keys(name):
                if person not in self._by_key[key]:
                    self._by_key[key].append(person)
                if is_latin_key(key) and len(key) >= FUZZY_MIN_LENGTH and key not in self._latin_keys:
                    self._latin_keys.append(key)
        if person.kind == "partner" and domain_of(person.email):
            self.partner_domains |= {domain_of(person.email)}
        self._name_cache.clear()

    def people(self) -> list[Person]:
        return list(self._by_address.values())

    def person_at(self, address: str) -> Person | None:
        return self._by_address.get((address or "").lower())

    def people_named(self, display_name: str) -> Sequence[Person]:
        cached = self._name_cache.get(display_name)
        if cached is None:
            cached = self._match_name(display_name)
            if len(self._name_cache) >= _NAME_CACHE_SIZE:
                self._name_cache.clear()
            self._name_cache[display_name] = cached
        return cached

    def _match_name(self, display_name: str) -> tuple[Person, ...]:
        display_name = display_name[:MAX_NAME_CHARS]
        keys = name_keys(display_name)
        found = self._lookup(keys) or self._lookup(embedded_name_keys(display_name))
        if found or not self._latin_keys:
            return tuple(found)
        for key in keys:
            if is_latin_key(key) and len(key) >= FUZZY_MIN_LENGTH:
                best = process.extractOne(key, self._latin_keys, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN_SCORE)
                if best:
                    found.extend(p for p in self._by_key[best[0]] if p not in found)
        return tuple(found)

    def _lookup(self, keys: Iterable[str]) -> list[Person]:
        found: list[Person] = []
        for key in keys:
            for person in self._by_key.get(key, ()):
                if person not in found:
                    found.append(person)
        return found

    # -- contact graph ---------------------------------------------------------------------------
    def is_known_contact(self, address: str) -> bool:
        """A real exchange with us: they wrote to one of us, or one of us wrote to them."""
        peers = self._peers.get((address or "").lower())
        return bool(peers) and any(self.is_our_domain(domain_of(p)) for p in peers)

    def add_contact(self, sender: str, recipient: str) -> None:
        sender, recipient = sys.intern(sender), sys.intern(recipient)
        self._peers[sender].add(recipient)
        self._peers[recipient].add(sender)

    def peers_of(self, address: str) -> frozenset[str]:
        """Every address this one exchanged mail with, in either direction."""
        return frozenset(self._peers.get((address or "").lower(), ()))

    # -- thread ledger ---------------------------------------------------------------------------
    def add_message(
        self,
        *,
        message_id: str,
        references: Sequence[str],
        subject: str,
        participants: Iterable[str],
        when: float,
        normalised: bool = False,
    ) -> Thread:
        ids = [i for i in (message_id, *references) if i]
        threads = {id(t): t for t in (self._thread_of.get(i) for i in ids) if t is not None}
        if threads:
            thread = max(threads.values(), key=lambda t: len(t.ids))
            for other in threads.values():
                if other is not thread:
                    self._merge(thread, other)
        else:
            thread = Thread(first_id=(references[0] if references else message_id) or f"anon-{when}")
        subject = subject if normalised else normalise_subject(subject)
        if subject and subject not in thread.subjects:
            thread.subjects.add(subject)
            self._by_subject[subject].append(thread)
        for i in ids:
            thread.ids.add(i)
            self._thread_of[i] = thread
        thread.participants.update(sys.intern(p) for p in participants if p)
        thread.messages += 1
        thread.last_seen = max(thread.last_seen, when)
        return thread

    def _merge(self, into: Thread, other: Thread) -> None:
        for i in other.ids:
            self._thread_of[i] = into
        into.ids |= other.ids
        into.participants |= other.participants
        into.messages += other.messages
        into.last_seen = max(into.last_seen, other.last_seen)
        into.passwords.extend(other.passwords)
        for subject in other.subjects:
            into.subjects.add(subject)
            bucket = self._by_subject[subject]
            bucket[:] = [t for t in bucket if t is not other]
            if into not in bucket:
                bucket.append(into)

    def thread_of(self, message_ids: Iterable[str]) -> Thread | None:
        for message_id in message_ids:
            thread = self._thread_of.get(message_id)
            if thread is not None:
                return thread
        return None

    def thread_by_reference(self, message_ids: Iterable[str]) -> ThreadInfo | None:
        thread = self.thread_of(message_ids)
        return thread.info() if thread else None

    def threads_by_subject(self, subject: str) -> Sequence[ThreadInfo]:
        return [t.info() for t in self._by_subject.get(normalise_subject(subject), ())]

    def thread_count(self) -> int:
        return len({id(t) for t in self._thread_of.values()})

    def has_message(self, message_id: str) -> bool:
        return message_id in self._thread_of

    # -- passwords sent in separate mails (PPAP) -------------------------------------------------
    def add_passwords(self, thread: Thread | None, mail: PasswordMail) -> None:
        self._password_mail[mail.sender].append(mail)
        if thread is not None:
            thread.passwords.append((mail.when, mail.passwords))

    def passwords_for(
        self, *, sender: str, recipients: Iterable[str], thread_ids: Sequence[str], when: float, window_seconds: float
    ) -> list[str]:
        """Candidates from the same thread, or from the same sender to an overlapping audience in the window."""
        found: dict[str, None] = {}
        thread = self.thread_of(thread_ids)
        if thread is not None:
            for seen, passwords in thread.passwords:
                if abs(when - seen) <= window_seconds:
                    found.update(dict.fromkeys(passwords))
        audience = {r.lower() for r in recipients}
        for mail in self._password_mail.get(sender.lower(), ()):
            if abs(when - mail.when) <= window_seconds and (not audience or audience & mail.recipients):
                found.update(dict.fromkeys(mail.passwords))
        return list(found)

    def add_pending(self, pending: PendingArchive) -> None:
        self._pending[pending.key] = pending

    def replace_pending(self, pending: Iterable[PendingArchive]) -> None:
        self._pending = {p.key: p for p in pending}

    def drop_pending(self, key: str) -> None:
        self._pending.pop(key, None)

    def pending_encrypted(
        self, *, sender: str, recipients: Iterable[str], thread_ids: Sequence[str], when: float, window_seconds: float
    ) -> list[str]:
        """Keys of held archives that a mail with these properties may carry the password for."""
        audience = {r.lower() for r in recipients}
        thread = self.thread_of(thread_ids)
        keys = []
        for pending in self._pending.values():
            if abs(when - pending.when) > window_seconds:
                continue
            same_thread = thread is not None and self.thread_of(pending.thread_ids) is thread
            same_route = pending.sender == sender.lower() and (not audience or audience & pending.recipients)
            if same_thread or same_route:
                keys.append(pending.key)
        return keys
