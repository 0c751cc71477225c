"""Clawback: take delivered mail back out of the recipients' mailboxes (zero-hour auto purge, after the fact).

A connector reaches one kind of mail store; IMAP (`imap.py`) is the first. Each call handles one
mailbox and one message (by its Message-ID header) and reports an `Outcome`, never raising for what
a mailbox can do to us (login refused, server down): those are results the operator must see per
recipient. `actions.py` chooses the messages, calls the connector, and writes the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    MOVED = "moved"  # found and moved to the quarantine folder
    DELETED = "deleted"  # found and expunged (policy action = "delete")
    WOULD_MOVE = "would_move"  # dry run: found, nothing changed
    WOULD_DELETE = "would_delete"
    NOT_FOUND = "not_found"  # not in the mailbox any more: the user deleted it (or it never arrived)
    RESTORED = "restored"  # undo: moved back to where it was found
    UNREACHABLE = "unreachable"  # no connection, login refused, no credential for this mailbox
    FAILED = "failed"  # the server refused the operation itself


@dataclass(frozen=True)
class MailboxResult:
    mailbox: str  # the recipient address
    outcome: Outcome
    folder: str = ""  # where the message was found (for undo, where it goes back)
    count: int = 0  # copies handled (a user may have filed a copy twice)
    detail: str = ""


class MailboxConnector(Protocol):
    def remove(self, mailbox: str, message_id: str, *, delete: bool, dry_run: bool) -> MailboxResult:
        """Find `message_id` in any folder but the quarantine folder; move it there, or delete it."""
        ...

    def restore(self, mailbox: str, message_id: str, *, folder: str) -> MailboxResult:
        """Move `message_id` from the quarantine folder back to `folder`."""
        ...
