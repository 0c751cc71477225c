"""Archive passwords sent in a separate mail (the PPAP habit): `ThreadPasswords`, a PasswordSource.

Japanese business mail often sends an encrypted zip and, minutes later, "パスワードのお知らせ" in a
second mail of the same thread or from the same sender to the same recipients. The ledger keeps the
candidate passwords each recorded mail stated (harvested by `kakuri.unpack.passwords`, never the
body); this source offers those of the same thread, or of the same sender to an overlapping
audience within `PASSWORD_WINDOW_SECONDS` (24 h).

Reverse order (archive first): the gateway calls `KnowledgeStore.hold_encrypted(key, ...)` for the
held message, and for each later mail that states passwords, `KnowledgeStore.pending_for(message)`
returns the held keys to rescan; after `record(password_mail)` this source finds the password.
"""

from __future__ import annotations

from typing import Iterable

from kakuri.model import Envelope, ParsedMessage
from kakuri.store.knowledge import KnowledgeStore


class ThreadPasswords:
    def __init__(self, knowledge: KnowledgeStore) -> None:
        self.knowledge = knowledge

    def passwords(self, message: ParsedMessage, envelope: Envelope) -> Iterable[str]:
        return self.knowledge.thread_passwords(message, envelope)
