"""Many messages judged together, as the gateway judges live traffic: PPAP pairs across messages.

`kakuri scan` and `kakuri eval` read a folder, mbox or Maildir. Scanned one by one, an encrypted
archive whose password came in a separate mail stays unopened (ARCHIVE_ENCRYPTED_UNOPENED) and its
password mail looks harmless, while the gateway holds the archive, opens it with the password mail and
quarantines both halves when the contents are malicious (receive/ppap.py). `MailboxScan` does the same
over what it has read: an archive left locked is rescanned with the passwords stated by the other
messages linked to it - the same thread (Message-ID, In-Reply-To, References), or the same sender to an
overlapping audience - stated at most `hold_seconds` after it (the gateway's hold) or up to
`PASSWORD_WINDOW_SECONDS` before it (the ledger's window), by the Date headers. Opened and malicious:
the archive takes the new verdict and every mail that stated the opening password is quarantined too,
with a reason naming the archive; opened and clean: the archive takes its (clean) verdict and the
password mail keeps its own.
Blind spot: a thread whose mails share no Message-ID reference and come from different senders.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from kakuri.model import Action, Envelope, ParsedMessage, Verdict
from kakuri.pipeline import ScanResult, Scanner
from kakuri.store.knowledge import PASSWORD_WINDOW_SECONDS, harvest_passwords, message_time
from kakuri.parse.addresses import sender_of

LOCKED = "ARCHIVE_ENCRYPTED_UNOPENED"
PAIR_REASON = "ppap: states the password of"
MALICIOUS = (Action.QUARANTINE, Action.REJECT)


@dataclass
class _Seen:
    name: str
    envelope: Envelope
    verdict: Verdict
    sender: str
    audience: frozenset[str]
    ids: tuple[str, ...]
    when: float
    passwords: tuple[str, ...]
    raw: bytes | None  # kept only while its archive is locked


class _Fixed:
    """The passwords other messages of the mailbox stated, offered like the thread's."""

    def __init__(self, passwords: Iterable[str]) -> None:
        self._passwords = list(passwords)

    def passwords(self, message: ParsedMessage, envelope: Envelope) -> list[str]:
        return self._passwords


class MailboxScan:
    def __init__(self, scanner: Scanner, *, hold_seconds: float) -> None:
        self.scanner = scanner
        self.hold_seconds = hold_seconds
        self._seen: list[_Seen] = []

    def add(self, name: str, raw: bytes, envelope: Envelope) -> ScanResult:
        """Scan one message on its own; its final verdict comes from `verdicts()`."""
        result = self.scanner.scan(raw, envelope)
        message = result.message
        _, sender = sender_of(message)
        audience = frozenset(a.lower() for a in (*message.recipients, *envelope.rcpt_tos) if a)
        ids = tuple(i for i in (message.message_id, message.in_reply_to, *message.references) if i)
        locked = LOCKED in result.verdict.symbols
        self._seen.append(_Seen(name, envelope, result.verdict, sender.lower(), audience, ids, message_time(message),
                                tuple(harvest_passwords(message)), raw if locked else None))
        return result

    def verdicts(self) -> list[Verdict]:
        """Every message's verdict, in the order added, with PPAP pairs judged together."""
        thread = _threads(self._seen)
        for archive in self._seen:
            if archive.raw is None:
                continue
            stating = [s for s in self._seen if s is not archive and s.passwords and self._linked(archive, s, thread)]
            if stating:
                self._open(archive, sorted(stating, key=lambda s: abs(s.when - archive.when)))
        return [s.verdict for s in self._seen]

    def _linked(self, archive: _Seen, other: _Seen, thread: dict[int, int]) -> bool:
        after = other.when - archive.when
        if not (-PASSWORD_WINDOW_SECONDS <= after <= self.hold_seconds):
            return False
        if thread[id(archive)] == thread[id(other)]:
            return True
        return other.sender == archive.sender and bool(other.audience & archive.audience or not archive.audience)

    def _open(self, archive: _Seen, stating: list[_Seen]) -> None:
        passwords = list(dict.fromkeys(p for s in stating for p in s.passwords))
        scanner = self.scanner
        rescanner = Scanner(scanner.settings, knowledge=scanner.knowledge, resolver=scanner.resolver,
                            password_sources=[*scanner.password_sources, _Fixed(passwords)],
                            detectors=scanner.detectors)
        verdict = rescanner.scan(archive.raw, archive.envelope).verdict
        if LOCKED in verdict.symbols:
            return
        archive.verdict, archive.raw = verdict, None
        if verdict.action not in MALICIOUS:
            return
        opened = {f.evidence.get("password") for f in verdict.findings if f.symbol.startswith("ARCHIVE_ENCRYPTED")}
        for mail in stating:
            if opened & set(mail.passwords) and mail.verdict.action.severity < Action.QUARANTINE.severity:
                reason = f"{PAIR_REASON} {archive.name}, which opened with it and is quarantined"
                mail.verdict = replace(mail.verdict, action=Action.QUARANTINE, reasons=(*mail.verdict.reasons, reason))


def _threads(seen: list[_Seen]) -> dict[int, int]:
    """Messages that share any Message-ID reference belong to one thread (union-find over the ids)."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for item in seen:
        keys = item.ids or (f"#{id(item)}",)
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
    roots: dict[str, int] = {}
    return {id(item): roots.setdefault(root((item.ids or (f"#{id(item)}",))[0]), len(roots)) for item in seen}
