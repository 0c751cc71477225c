"""Tables of organisation knowledge: directory, domains, thread ledger, contact graph, held archives.

The ledger keeps headers and the candidate passwords a mail carried, never its body.
"""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kakuri.store.db import Base


class DirectoryPerson(Base):
    __tablename__ = "kn_people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # staff | partner
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    other_names: Mapped[str] = mapped_column(Text, default="")  # one per line (romaji, ...)
    company: Mapped[str] = mapped_column(String(200), default="")


class KnownDomain(Base):
    __tablename__ = "kn_domains"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # ours | partner
    company: Mapped[str] = mapped_column(String(200), default="")


class LedgerMessage(Base):
    __tablename__ = "kn_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    refs: Mapped[str] = mapped_column(Text, default="")  # In-Reply-To and References, space separated
    subject: Mapped[str] = mapped_column(Text, default="")  # normalised
    sender: Mapped[str] = mapped_column(String(320), default="")
    recipients: Mapped[str] = mapped_column(Text, default="")  # To, Cc and envelope recipients
    sent_at: Mapped[float] = mapped_column(Float, index=True)
    passwords: Mapped[str] = mapped_column(Text, default="")  # JSON list of candidates, "" for none


class Contact(Base):
    __tablename__ = "kn_contacts"

    sender: Mapped[str] = mapped_column(String(320), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320), primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[float] = mapped_column(Float)
    last_at: Mapped[float] = mapped_column(Float)


class PendingArchiveRow(Base):
    __tablename__ = "kn_pending_archives"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    sender: Mapped[str] = mapped_column(String(320), default="")
    recipients: Mapped[str] = mapped_column(Text, default="")
    thread_ids: Mapped[str] = mapped_column(Text, default="")
    held_at: Mapped[float] = mapped_column(Float)
