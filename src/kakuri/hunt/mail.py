"""Per-sender aggregates of the mail server's log: who sent how much, to whom, from where.

A sender is an account (SASL login, or envelope sender of mail from an internal client) and also the
internal host that submitted it, so a spamming PC is seen even when it rotates stolen logins.
Our domains are learnt from the log itself (mailboxes delivered locally, SASL logins). Counters are
sliding windows and capped sets: memory does not grow with the number of lines.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from email.header import decode_header, make_header

from kakuri.hunt.addresses import InternalNetworks
from kakuri.hunt.events import MailTransaction

MAX_ADDRESSES = 50_000  # per account / mailbox
MAX_KNOWN = 1_000_000  # correspondents remembered org-wide
MAX_CLOCK_SAMPLES = 5_000
DAY = 86400.0
_REPLY = re.compile(r"^\s*(re|aw|sv|antw|r|返信)\s*[:：]", re.IGNORECASE)


@dataclass
class SenderStats:
    first_seen: float
    messages: int = 0
    peak_burst: int = 0
    peak_new_messages: int = 0  # most messages with a never-before recipient within a day
    new_recipients: int = 0
    # "Re:" messages whose recipients were all new when sent; judged at the end against everyone who
    # ever wrote to us in the log, so that replies to threads begun before the log starts are forgiven
    reply_candidates: list[tuple[str, ...]] = field(default_factory=list)
    replies: int = 0
    external_recipients: int = 0
    hard_bounces: int = 0
    peak_burst_start: float = 0.0  # when the busiest window began
    peak_new_start: float = 0.0
    first_external_auth: float | None = None
    auth_external_ips: set[str] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)  # internal hosts that sent as this account
    recipients: dict[str, bool] = field(default_factory=dict)  # external address -> ever delivered
    _recent: deque = field(default_factory=deque)
    _recent_new: deque = field(default_factory=deque)


class MailAggregate:
    def __init__(self, networks: InternalNetworks, *, burst_window_seconds: int, knowledge=None):
        self.internal = networks.is_internal
        self.window = burst_window_seconds
        self.knowledge = knowledge
        self.our_domains: set[str] = set()
        self.accounts: dict[str, SenderStats] = {}
        self.hosts: dict[str, SenderStats] = {}
        self.host_names: dict[str, str] = {}
        self.known: set[str] = set()  # external addresses that corresponded with us before
        self.wrote_to_us: set[str] = set()  # external senders of delivered mail, whole log
        self.inbound_senders: dict[str, set[str]] = {}  # our mailbox -> external senders delivered to it
        self.mailbox_first_seen: dict[str, float] = {}
        self.transactions = 0
        self.server_names: set[str] = set()  # our mail server's names: syslog host, LMTP relay name
        self.clock_samples: list[tuple[str, float]] = []  # (outside client, time) to check the log's clock

    def add(self, tx: MailTransaction) -> None:
        self.transactions += 1
        if tx.server and len(self.server_names) < 100:
            self.server_names.add(tx.server.lower())
        for rcpt in tx.recipients:
            if rcpt.local:
                self.our_domains.add(_domain(rcpt.address))
                if rcpt.relay and len(self.server_names) < 100:
                    self.server_names.add(rcpt.relay)
        if tx.sasl_username:
            self.our_domains.add(_domain(tx.sasl_username))
        if tx.client_ip and tx.client_name and self.internal(tx.client_ip):
            self.host_names.setdefault(tx.client_ip, tx.client_name)
        if tx.sasl_username or (tx.client_ip and self.internal(tx.client_ip) and tx.sender):
            self._outbound(tx)
        elif tx.sender:
            self._inbound(tx)
        if tx.client_ip and not self.internal(tx.client_ip) and len(self.clock_samples) < MAX_CLOCK_SAMPLES:
            self.clock_samples.append((tx.client_ip, tx.ts))

    def shift(self, seconds: float) -> None:
        """Move every stored time (the maillog clock was off by `seconds`)."""
        for stats in (*self.accounts.values(), *self.hosts.values()):
            stats.first_seen += seconds
            stats.peak_burst_start += seconds
            stats.peak_new_start += seconds
            if stats.first_external_auth is not None:
                stats.first_external_auth += seconds
        for mailbox in self.mailbox_first_seen:
            self.mailbox_first_seen[mailbox] += seconds

    def is_ours(self, address: str) -> bool:
        domain = _domain(address)
        return domain in self.our_domains or any(domain.endswith("." + d) for d in self.our_domains)

    def _outbound(self, tx: MailTransaction) -> None:
        account = tx.sasl_username or tx.sender or ""
        internal_client = bool(tx.client_ip and self.internal(tx.client_ip))
        external = [r for r in tx.recipients if not r.local and not self.is_ours(r.address)]
        new = [r.address for r in external if not self._known(r.address)]
        is_reply = bool(external) and _is_reply(tx.subject)
        stranger_reply = tuple(new) if is_reply and len(new) == len(external) else ()
        senders = [self._sender(self.accounts, account, tx.ts)]
        if internal_client:
            senders.append(self._sender(self.hosts, tx.client_ip, tx.ts))
            senders[0].clients.add(tx.client_ip)
        elif tx.client_ip and tx.sasl_username:
            senders[0].auth_external_ips.add(tx.client_ip)
            if senders[0].first_external_auth is None:
                senders[0].first_external_auth = tx.ts
        for stats in senders:
            self._count(stats, tx.ts, external, len(new), stranger_reply)
            stats.replies += is_reply
        if len(self.known) < MAX_KNOWN:
            self.known.update(r.address for r in external if r.status == "sent")

    def _inbound(self, tx: MailTransaction) -> None:
        sender = tx.sender or ""
        if self.is_ours(sender):
            return
        if len(self.known) < MAX_KNOWN:
            self.known.add(sender)
            self.wrote_to_us.add(sender)
        for rcpt in tx.recipients:
            if rcpt.local and rcpt.status == "sent":
                self.mailbox_first_seen.setdefault(rcpt.address, tx.ts)
                senders = self.inbound_senders.setdefault(rcpt.address, set())
                if len(senders) < MAX_ADDRESSES:
                    senders.add(sender)

    def _known(self, address: str) -> bool:
        if address in self.known:
            return True
        return bool(self.knowledge is not None and self.knowledge.is_known_contact(address))

    def _sender(self, table: dict[str, SenderStats], key: str, ts: float) -> SenderStats:
        stats = table.get(key)
        if stats is None:
            stats = table[key] = SenderStats(first_seen=ts)
        stats.first_seen = min(stats.first_seen, ts)
        return stats

    def stranger_replies(self, stats: SenderStats) -> int:
        """Replies sent only to people who never wrote to us anywhere in the log."""
        return sum(1 for rcpts in stats.reply_candidates if not any(r in self.wrote_to_us for r in rcpts))

    def _count(self, s: SenderStats, ts: float, external, new_count: int, stranger_reply: tuple[str, ...]) -> None:
        s.messages += 1
        s._recent.append(ts)
        while s._recent and ts - s._recent[0] > self.window:
            s._recent.popleft()
        if len(s._recent) > s.peak_burst:
            s.peak_burst, s.peak_burst_start = len(s._recent), s._recent[0]
        if new_count:
            s.new_recipients += new_count
            s._recent_new.append(ts)
            while s._recent_new and ts - s._recent_new[0] > DAY:
                s._recent_new.popleft()
            if len(s._recent_new) > s.peak_new_messages:
                s.peak_new_messages, s.peak_new_start = len(s._recent_new), s._recent_new[0]
        if stranger_reply and len(s.reply_candidates) < MAX_ADDRESSES:
            s.reply_candidates.append(stranger_reply)
        for rcpt in external:
            s.external_recipients += 1
            bounced = rcpt.status == "bounced" and rcpt.dsn.startswith("5")
            s.hard_bounces += bounced
            if len(s.recipients) < MAX_ADDRESSES or rcpt.address in s.recipients:
                s.recipients[rcpt.address] = s.recipients.get(rcpt.address, False) or not bounced


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _is_reply(subject: str | None) -> bool:
    if not subject:
        return False
    if "=?" in subject:
        try:
            subject = str(make_header(decode_header(subject)))
        except (ValueError, LookupError, UnicodeDecodeError):
            pass
    return bool(_REPLY.match(subject))
