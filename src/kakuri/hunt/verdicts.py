"""Score findings with the policy and build one record per host and per account, with whom to warn.

Warning list of an account: external recipients of mail it sent (except addresses that only
hard-bounced) and the people who wrote to it (not MAILER-DAEMON, noreply and other automated senders).
A host's list is the union over the accounts used from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from kakuri.decide.policy import PolicyConfig
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.analysis import NetworkView
from kakuri.hunt.findings import host_findings, mail_baselines, sender_findings
from kakuri.hunt.mail import MailAggregate
from kakuri.hunt.symbols import DETECTOR
from kakuri.model import Finding


@dataclass
class HuntRecord:
    kind: str  # host | account
    key: str
    score: float
    verdict: str  # infected | clean
    findings: list[Finding]
    first_seen: float
    hostname: str | None = None
    notify: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)  # accounts of a host, hosts of an account

    def as_json(self) -> dict:
        out: dict = {self.kind: self.key}
        if self.kind == "host":
            out["hostname"] = self.hostname
        out.update(
            score=round(self.score, 2),
            verdict=self.verdict,
            evidence=[f.as_dict() for f in self.findings],
            first_seen=datetime.fromtimestamp(self.first_seen, timezone.utc).isoformat().replace("+00:00", "Z"),
            notify=self.notify,
        )
        out["accounts" if self.kind == "host" else "hosts"] = self.linked
        return out


def build_records(net: NetworkView, mail: MailAggregate, policy: PolicyConfig, cfg: HuntConfig) -> list[HuntRecord]:
    relays = net.relays
    baselines = mail_baselines(mail)
    accounts_of: dict[str, list[str]] = {}
    for account, stats in mail.accounts.items():
        for ip in stats.clients:
            accounts_of.setdefault(ip, []).append(account)
    forward = net.forward  # A answers, last resort
    records = []
    for ip in sorted(set(net.hosts) | set(mail.hosts) | set(relays)):
        traffic = net.hosts.get(ip)
        if ip in relays:
            found = [(Finding("HUNT_RELAY_ROLE", DETECTOR, evidence={"role": relays[ip]}), None)]
        else:
            found = host_findings(traffic, cfg) if traffic else []
            if ip in mail.hosts:
                found += sender_findings(mail.hosts[ip], mail, baselines, cfg, is_account=False)
        seen = [t for t in (traffic.first_seen if traffic else None,
                            mail.hosts[ip].first_seen if ip in mail.hosts else None) if t is not None]
        record = _record("host", ip, found, min(seen) if seen else 0.0, policy, cfg)
        record.hostname = net.names.get(ip) or mail.host_names.get(ip) or forward.get(ip)
        record.linked = sorted(accounts_of.get(ip, []))
        if record.verdict == "infected":
            record.notify = sorted(set().union(*(contacts(mail, a, cfg) for a in record.linked)) if record.linked else set())
        records.append(record)
    infected_hosts = {r.key for r in records if r.verdict == "infected"}
    mailboxes = set(mail.accounts) | {a for a in mail.inbound_senders if mail.is_ours(a)}
    for account in sorted(mailboxes):
        stats = mail.accounts.get(account)
        found = sender_findings(stats, mail, baselines, cfg, is_account=True) if stats else []
        on_infected = sorted(stats.clients & infected_hosts) if stats else []
        if on_infected:
            found.append((Finding("HUNT_ACCOUNT_ON_INFECTED_HOST", DETECTOR, evidence={"hosts": " ".join(on_infected)}), None))
        first = stats.first_seen if stats else mail.mailbox_first_seen.get(account, 0.0)
        record = _record("account", account, found, first, policy, cfg)
        record.linked = sorted(stats.clients) if stats else []
        if record.verdict == "infected":
            record.notify = sorted(contacts(mail, account, cfg))
        records.append(record)
    return records


def _record(kind: str, key: str, found, first_seen: float, policy: PolicyConfig, cfg: HuntConfig) -> HuntRecord:
    findings = [f for f, _ in found]
    score = sum(policy.score_of(f.symbol) * f.weight for f in findings)
    infected = score >= cfg.infected_score
    times = [t for _, t in found if t is not None]
    if infected and times:
        first_seen = min(times)
    return HuntRecord(kind, key, score, "infected" if infected else "clean", findings, first_seen)


def contacts(mail: MailAggregate, account: str, cfg: HuntConfig) -> set[str]:
    stats = mail.accounts.get(account)
    out = {addr for addr, delivered in stats.recipients.items() if delivered} if stats else set()
    automated = set(cfg.automated_localparts)
    for sender in mail.inbound_senders.get(account, ()):
        local = sender.partition("@")[0]
        if sender and local not in automated and not mail.is_ours(sender):
            out.add(sender)
    graph = getattr(mail.knowledge, "contacts_of", None)  # the contact graph, when the store provides one
    if graph is not None:
        out.update(a for a in graph(account) if not mail.is_ours(a))
    return out
