"""Organisation knowledge kept in the database and served from memory: `KnowledgeStore`.

`load_knowledge(settings)` reads the directory, the thread ledger and the contact graph once; after
that every detector lookup is in memory (`KnowledgeIndex`), and new facts (`record`, directory
imports, held archives) are written through to the database and to the index together.

`record` is for mail that was delivered (or learned from history): recording quarantined mail would
teach the contact graph that an attacker is a known correspondent.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Iterable, Sequence

from sqlalchemy import case, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from kakuri.model import Envelope, ParsedMessage
from kakuri.model.knowledge import Person
from kakuri.parse.addresses import domain_of, sender_of
from kakuri.parse.threading import normalise_subject
from kakuri.store.knowledge_index import KnowledgeIndex, PasswordMail, PendingArchive
from kakuri.store.knowledge_tables import (
    Contact,
    DirectoryPerson,
    KnownDomain,
    LedgerMessage,
    PendingArchiveRow,
)

_LEDGER_COLUMNS = (
    LedgerMessage.message_id,
    LedgerMessage.refs,
    LedgerMessage.subject,
    LedgerMessage.sender,
    LedgerMessage.recipients,
    LedgerMessage.sent_at,
    LedgerMessage.passwords,
)
PASSWORD_WINDOW_SECONDS = 24 * 3600
MAX_STORED_PASSWORDS = 20  # per recorded mail; the unpack stage tries them best first


class KnowledgeStore(KnowledgeIndex):
    def __init__(self, sessions: sessionmaker, *, our_domains: Iterable[str] = ()) -> None:
        super().__init__(our_domains=our_domains)
        self.sessions = sessions
        self._last_row_id = 0  # newest ledger row this process has read (for refresh)

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> KnowledgeStore:
        # Plain column tuples, not ORM objects: a 100k-message ledger loads in seconds.
        with self.sessions() as session:
            for domain, kind in session.execute(select(KnownDomain.domain, KnownDomain.kind)):
                self.add_domains(**{"ours" if kind == "ours" else "partners": [domain]})
            for row in session.scalars(select(DirectoryPerson)):
                self.add_person(_person(row))
            for sender, recipient in session.execute(select(Contact.sender, Contact.recipient)):
                self.add_contact(sender, recipient)
            ledger = select(LedgerMessage.id, *_LEDGER_COLUMNS).order_by(LedgerMessage.sent_at)
            for row_id, *row in session.execute(ledger):
                self._index_row(*row)
                self._last_row_id = max(self._last_row_id, row_id)
            for row in session.scalars(select(PendingArchiveRow)):
                self.add_pending(_pending(row))
        return self

    def refresh(self) -> int:
        """Pick up what other processes and nodes stored since `load` (one query; call every few seconds).

        New ledger messages (with their contacts), directory additions and held archives; people
        removed from the directory stay known until the next `load`.
        """
        new = 0
        with self.sessions() as session:
            query = select(LedgerMessage.id, *_LEDGER_COLUMNS).where(LedgerMessage.id > self._last_row_id)
            for row_id, *row in session.execute(query.order_by(LedgerMessage.id)):
                self._last_row_id = max(self._last_row_id, row_id)
                message_id, sender, recipients = row[0], row[3], row[4]
                if self.has_message(message_id):
                    continue  # recorded by this process
                self._index_row(*row)
                for recipient in recipients.split():
                    self.add_contact(sender, recipient)
                new += 1
            for domain, kind in session.execute(select(KnownDomain.domain, KnownDomain.kind)):
                self.add_domains(**{"ours" if kind == "ours" else "partners": [domain]})
            known = set(self.people())
            for row in session.scalars(select(DirectoryPerson)):
                if (person := _person(row)) not in known:
                    self.add_person(person)
            self.replace_pending([_pending(row) for row in session.scalars(select(PendingArchiveRow))])
        return new

    def _index_row(self, message_id, refs, subject, sender, recipients, sent_at, passwords) -> None:
        recipients = recipients.split()
        thread = self.add_message(
            message_id=message_id,
            references=refs.split(),
            subject=subject,
            participants=[sender, *recipients],
            when=sent_at,
            normalised=True,
        )
        if passwords:
            mail = PasswordMail(sender, frozenset(recipients), sent_at, tuple(json.loads(passwords)))
            self.add_passwords(thread, mail)

    def contact(self, sender: str, recipient: str) -> tuple[int, float, float] | None:
        """(messages, first seen, last seen) from sender to recipient, or None (a query: not for scans)."""
        with self.sessions() as session:
            row = session.get(Contact, (sender.lower(), recipient.lower()))
            return (row.messages, row.first_at, row.last_at) if row else None

    # -- directory -------------------------------------------------------------------------------
    def import_people(self, people: Sequence[Person], *, replace_kind: str | None = None) -> int:
        """Add people (replacing every person of `replace_kind` first, for a full re-import)."""
        with self.sessions.begin() as session:
            if replace_kind:
                session.execute(delete(DirectoryPerson).where(DirectoryPerson.kind == replace_kind))
            for p in people:
                session.add(
                    DirectoryPerson(
                        kind=p.kind, email=p.email, name=p.name, other_names="\n".join(p.other_names), company=p.company
                    )
                )
        for p in people:
            self.add_person(p)
        return len(people)

    def import_domains(self, domains: Iterable[str], *, kind: str, company: str = "") -> list[str]:
        added = []
        with self.sessions.begin() as session:
            for domain in {d.strip().lower().rstrip(".") for d in domains if d and d.strip()}:
                if session.get(KnownDomain, (domain, kind)) is None:
                    session.add(KnownDomain(domain=domain, kind=kind, company=company))
                    added.append(domain)
        self.add_domains(**{"ours" if kind == "ours" else "partners": added})
        return added

    # -- ledger ----------------------------------------------------------------------------------
    def record(self, message: ParsedMessage, envelope: Envelope | None = None, *, when: float | None = None) -> bool:
        """Add one delivered (or historical) mail to the ledger and contact graph; False if already known."""
        return self.record_many([(message, envelope)], when=when) == 1

    def record_many(self, items: Iterable[tuple[ParsedMessage, Envelope | None]], *, when: float | None = None) -> int:
        """Record a batch in one transaction (what `kakuri learn` uses); returns how many were new."""
        return self.store_rows(self.index_many(items, when=when))

    def index_many(
        self, items: Iterable[tuple[ParsedMessage, Envelope | None]], *, when: float | None = None
    ) -> list[LedgerMessage]:
        """The in-memory half of `record_many`: index the messages not known yet and return their rows for
        `store_rows`. A scan worker holds its index lock only for this half."""
        rows = []
        for message, envelope in items:
            row = self._ledger_row(message, envelope, when)
            if row is None or self.has_message(row.message_id):
                continue
            self._index_row(*(getattr(row, c.key) for c in _LEDGER_COLUMNS))
            for recipient in row.recipients.split():
                self.add_contact(row.sender, recipient)
            rows.append(row)
        return rows

    def store_rows(self, rows: list[LedgerMessage]) -> int:
        """The database half of `record_many` (one transaction); it does not touch the in-memory index."""
        if not rows:
            return 0
        with self.sessions.begin() as session:
            inserted = self._insert_rows(session, rows)
            _add_contacts(session, _edges(inserted))  # only what this call added: counts stay exact
        return len(inserted)

    @staticmethod
    def _insert_rows(session, rows: list[LedgerMessage]) -> list[LedgerMessage]:
        try:
            with session.begin_nested():
                session.add_all(rows)
            return rows
        except IntegrityError:  # another node recorded some of them first: keep the rest
            inserted = []
            for row in rows:
                try:
                    with session.begin_nested():
                        copy = _copy(row)
                        session.add(copy)
                    inserted.append(copy)
                except IntegrityError:
                    continue
            return inserted

    def _ledger_row(
        self, message: ParsedMessage, envelope: Envelope | None, when: float | None
    ) -> LedgerMessage | None:
        message_id = message.message_id.strip()[:998]
        if not message_id:
            return None  # without an id nothing can ever refer to it; the contact graph alone is not worth it
        _, sender = sender_of(message)
        recipients = dict.fromkeys(a for a in message.recipients if a)
        if envelope is not None:
            recipients.update(dict.fromkeys(r.lower() for r in envelope.rcpt_tos))
        refs = [r for r in dict.fromkeys([message.in_reply_to, *message.references]) if r and r != message_id]
        passwords = harvest_passwords(message)
        return LedgerMessage(
            message_id=message_id,
            refs=" ".join(refs)[:20_000],
            subject=normalise_subject(message.subject)[:2000],
            sender=sender,
            recipients=" ".join(recipients)[:20_000],
            sent_at=when if when is not None else message_time(message),
            passwords=json.dumps(passwords, ensure_ascii=False) if passwords else "",
        )

    # -- passwords in separate mails (PPAP) ------------------------------------------------------
    def thread_passwords(self, message: ParsedMessage, envelope: Envelope | None = None) -> list[str]:
        _, sender = sender_of(message)
        return self.passwords_for(
            sender=sender,
            recipients=_recipients(message, envelope),
            thread_ids=_thread_ids(message),
            when=message_time(message),
            window_seconds=PASSWORD_WINDOW_SECONDS,
        )

    def hold_encrypted(self, key: str, message: ParsedMessage, envelope: Envelope | None = None) -> None:
        """Remember a held message whose archive needs a password that may arrive later."""
        _, sender = sender_of(message)
        pending = PendingArchive(
            key, sender, frozenset(_recipients(message, envelope)), time.time(), tuple(_thread_ids(message))
        )
        with self.sessions.begin() as session:
            session.merge(
                PendingArchiveRow(
                    key=key,
                    sender=sender,
                    recipients=" ".join(pending.recipients),
                    thread_ids=" ".join(pending.thread_ids),
                    held_at=pending.when,
                )
            )
        self.add_pending(pending)

    def release_pending(self, key: str) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(PendingArchiveRow).where(PendingArchiveRow.key == key))
        self.drop_pending(key)

    def pending_for(self, message: ParsedMessage, envelope: Envelope | None = None) -> list[str]:
        """Keys of held archives this newly arrived mail may hold the password for (rescan them).

        The gateway calls this for a mail that carries password candidates (`harvest_passwords`),
        then rescans each held message with `ThreadPasswords` (which now finds the password).
        """
        _, sender = sender_of(message)
        return self.pending_encrypted(
            sender=sender,
            recipients=_recipients(message, envelope),
            thread_ids=_thread_ids(message),
            when=time.time(),
            window_seconds=PASSWORD_WINDOW_SECONDS,
        )


def harvest_passwords(message: ParsedMessage) -> list[str]:
    """Candidate passwords stated in a mail, by the unpack stage's harvester (the one extraction rule)."""
    try:
        from kakuri.unpack.passwords import harvest_passwords as harvest
    except ImportError:  # unpack stage without a harvester in this build
        return []
    try:
        return harvest(f"{message.subject}\n{message.body_text}", MAX_STORED_PASSWORDS)
    except Exception:  # a harvester bug must not stop the ledger
        return []


def message_time(message: ParsedMessage) -> float:
    try:
        return parsedate_to_datetime(message.date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return time.time()


def _thread_ids(message: ParsedMessage) -> list[str]:
    return [i for i in (message.message_id, message.in_reply_to, *message.references) if i]


def _recipients(message: ParsedMessage, envelope: Envelope | None) -> list[str]:
    found = dict.fromkeys(message.recipients)
    if envelope is not None:
        found.update(dict.fromkeys(r.lower() for r in envelope.rcpt_tos))
    return list(found)


def _add_contacts(session, edges: dict[tuple[str, str], list[float]]) -> None:
    """Add to the counts in one statement per edge, atomically (several gateway nodes may write)."""
    if not edges:
        return
    dialect = session.bind.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    values = [
        {"sender": s, "recipient": r, "messages": int(n), "first_at": first, "last_at": last}
        for (s, r), (n, first, last) in edges.items()
    ]
    statement = insert(Contact)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[Contact.sender, Contact.recipient],
        set_={
            "messages": Contact.messages + excluded.messages,
            "first_at": case((excluded.first_at < Contact.first_at, excluded.first_at), else_=Contact.first_at),
            "last_at": case((excluded.last_at > Contact.last_at, excluded.last_at), else_=Contact.last_at),
        },
    )
    for start in range(0, len(values), 1000):
        session.execute(statement, values[start : start + 1000])


def _edges(rows: list[LedgerMessage]) -> dict[tuple[str, str], list[float]]:
    edges: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        for recipient in row.recipients.split():
            if recipient != row.sender:
                edge = edges.setdefault((row.sender, recipient), [0, row.sent_at, row.sent_at])
                edge[0] += 1
                edge[1], edge[2] = min(edge[1], row.sent_at), max(edge[2], row.sent_at)
    return edges


def _copy(row: LedgerMessage) -> LedgerMessage:
    columns = ("message_id", "refs", "subject", "sender", "recipients", "sent_at", "passwords")
    return LedgerMessage(**{c: getattr(row, c) for c in columns})


def _person(row: DirectoryPerson) -> Person:
    others = tuple(n for n in row.other_names.split("\n") if n)
    return Person(name=row.name, email=row.email, kind=row.kind, other_names=others, company=row.company)


def _pending(row: PendingArchiveRow) -> PendingArchive:
    recipients, thread_ids = frozenset(row.recipients.split()), tuple(row.thread_ids.split())
    return PendingArchive(row.key, row.sender, recipients, row.held_at, thread_ids)


def open_knowledge(engine: Engine, our_domains: Iterable[str] = ()) -> KnowledgeStore:
    from kakuri.store.db import make_sessionmaker

    return KnowledgeStore(make_sessionmaker(engine), our_domains=our_domains).load()


def load_knowledge(settings, *, engine: Engine | None = None) -> KnowledgeStore:
    """The Knowledge the scanner uses: our domains from config plus everything stored (migrates first)."""
    if engine is None:
        from kakuri.store.config import open_stores

        engine = open_stores(settings).engine
    else:
        from kakuri.store.db import migrate

        migrate(engine)
    return open_knowledge(engine, settings.org.our_domains)
