"""Indicators from quarantined mail, and the retro-search: which delivered messages carry them?

Indicators: SHA-256 of every attachment and unpacked member, URLs, sender addresses (envelope, From,
Reply-To) and the subject. Retro-search matches senders and subjects in the database and re-reads the
stored raw messages for hashes and URLs, so it finds what was delivered before anyone knew.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kakuri.parse.urls import message_urls
from kakuri.pipeline import parse_and_unpack
from kakuri.store.blobs import BlobStore
from kakuri.store.messages import Message, MessageState

# Retro-search looks at what reached people; quarantined and held mail never did.
_DELIVERED = (MessageState.DELIVERED, MessageState.RELEASED)


@dataclass
class Indicators:
    hashes: set[str] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)
    senders: set[str] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)

    def merge(self, other: Indicators) -> None:
        self.hashes |= other.hashes
        self.urls |= other.urls
        self.senders |= other.senders
        self.subjects |= other.subjects

    def as_links(self) -> list[str]:
        return (
            [f"sha256:{h}" for h in sorted(self.hashes)]
            + [f"url:{u}" for u in sorted(self.urls)]
            + [f"sender:{s}" for s in sorted(self.senders)]
            + [f"subject:{s}" for s in sorted(self.subjects)]
        )


@dataclass
class RetroMatch:
    queue_id: str
    received_at: datetime
    mail_from: str
    subject: str
    recipients: list[str]
    matched: list[str]


def indicators_of(raw: bytes, mail_from: str = "") -> Indicators:
    message = parse_and_unpack(raw)
    found = Indicators(
        hashes={p.sha256 for p in message.walk_parts() if p.is_attachment or p.depth > 0},
        urls={u.url for u in message_urls(message) if u.is_link},
        senders={a for a in (mail_from.lower(), message.from_addr, *message.reply_to) if a},
    )
    if message.subject:
        found.subjects.add(message.subject)
    return found


def indicators_of_messages(session: Session, blobs: BlobStore, queue_ids: list[str]) -> Indicators:
    total = Indicators()
    for queue_id in queue_ids:
        row = session.get(Message, queue_id)
        if row is None or not row.blob_sha256 or not blobs.exists(row.blob_sha256):
            continue
        total.merge(indicators_of(blobs.get(row.blob_sha256), row.mail_from))
    return total


def retro_search(
    session: Session, blobs: BlobStore, indicators: Indicators, *, since: datetime | None = None, limit: int = 10_000
) -> list[RetroMatch]:
    query = select(Message).where(Message.state.in_([s.value for s in _DELIVERED])).order_by(Message.received_at)
    if since is not None:
        query = query.where(Message.received_at >= since)
    matches = []
    for row in session.scalars(query.limit(limit)):
        matched = _header_matches(row, indicators)
        if (indicators.hashes or indicators.urls) and row.blob_sha256 and blobs.exists(row.blob_sha256):
            matched += _content_matches(blobs.get(row.blob_sha256), indicators)
        if matched:
            matches.append(
                RetroMatch(
                    queue_id=row.queue_id,
                    received_at=row.received_at,
                    mail_from=row.mail_from,
                    subject=row.subject,
                    recipients=[r.address for r in row.recipients],
                    matched=matched,
                )
            )
    return matches


def _header_matches(row: Message, indicators: Indicators) -> list[str]:
    out = []
    from_header = (row.from_header or "").lower()
    for sender in indicators.senders:
        if sender == row.mail_from.lower() or sender in from_header:
            out.append(f"sender:{sender}")
    if row.subject in indicators.subjects:
        out.append(f"subject:{row.subject}")
    return out


def _content_matches(raw: bytes, indicators: Indicators) -> list[str]:
    message = parse_and_unpack(raw)
    out = [f"sha256:{p.sha256}" for p in message.walk_parts() if p.sha256 in indicators.hashes]
    out += [f"url:{u.url}" for u in message_urls(message) if u.url in indicators.urls]
    return sorted(set(out))


