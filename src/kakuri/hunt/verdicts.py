"""Score findings with the policy and build one record per host and per account, with whom to warn.

Warning list of an account: external recipients of mail it sent (except addresses that only
hard-bounced) and the people who wrote to it (not MAILER-DAEMON, noreply and other automated senders).
A host's list is the union over the accounts used from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from kakuri.decide.policy import PolicyConfig
from kakuri.hunt.analysis import NetworkView
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.findings import host_findings, mail_baselines, sender_findings
from kakuri.hunt.mail import MailView
from kakuri.hunt.symbols import DETECTOR
from kakuri.model import Finding


@dataclass(slots=True)
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


def write_json(path: Path, records: Iterable[HuntRecord]) -> None:
    """Every record as one JSON array, written record by record (no copy of the whole result in memory)."""
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for i, record in enumerate(records):
            out.write(",\n" if i else "\n")
            out.write(json.dumps(record.as_json(), ensure_ascii=False, indent=1))
        out.write("\n]\n")


def build_records(net: NetworkView, mail: MailView, policy: PolicyConfig, cfg: HuntConfig,
                  correspondents: Callable[[list[str]], dict[str, tuple[set[str], set[str]]]]) -> list[HuntRecord]:
    """`correspondents(accounts)` gives each account's outside recipients and senders (asked once, for the infected).

    The views are consumed: each host's and account's aggregates are dropped once its record is built, so
    the aggregates and the records are not both held whole at the peak of a run.
    """
    relays = net.relays
    baselines = mail_baselines(mail)
    accounts_of: dict[str, list[str]] = {}
    for account, stats in mail.accounts.items():
        for ip in stats.clients:
            accounts_of.setdefault(ip, []).append(account)
    forward = net.forward  # A answers, last resort
    records = []
    for ip in sorted(set(net.hosts) | set(mail.hosts) | set(relays)):
        traffic = net.hosts.pop(ip, None)
        sent = mail.hosts.pop(ip, None)
        if ip in relays:
            found = [(Finding("HUNT_RELAY_ROLE", DETECTOR, evidence={"role": relays[ip]}), None)]
        else:
            found = host_findings(traffic, cfg) if traffic else []
            if sent is not None:
                found += sender_findings(sent, baselines, cfg, is_account=False)
        seen = [t for t in (traffic.first_seen if traffic else None, sent.first_seen if sent else None) if t is not None]
        record = _record("host", ip, found, min(seen) if seen else 0.0, policy, cfg)
        record.hostname = net.names.get(ip) or mail.host_names.get(ip) or forward.get(ip)
        record.linked = sorted(accounts_of.get(ip, []))
        records.append(record)
    infected_hosts = {r.key for r in records if r.verdict == "infected"}
    for account in sorted(set(mail.accounts) | set(mail.mailboxes)):
        stats = mail.accounts.pop(account, None)
        found = sender_findings(stats, baselines, cfg, is_account=True) if stats else []
        on_infected = sorted(stats.clients & infected_hosts) if stats else []
        if on_infected:
            found.append((Finding("HUNT_ACCOUNT_ON_INFECTED_HOST", DETECTOR, evidence={"hosts": " ".join(on_infected)}), None))
        first = stats.first_seen if stats else mail.mailboxes.get(account, 0.0)
        record = _record("account", account, found, first, policy, cfg)
        record.linked = sorted(stats.clients) if stats else []
        records.append(record)
    _warning_lists(records, mail, cfg, correspondents)
    return records


def _warning_lists(records: list[HuntRecord], mail: MailView, cfg: HuntConfig, correspondents) -> None:
    infected = [r for r in records if r.verdict == "infected"]
    accounts = sorted({a for r in infected for a in ([r.key] if r.kind == "account" else r.linked)})
    known = correspondents(accounts) if accounts else {}
    for record in infected:
        linked = [record.key] if record.kind == "account" else record.linked
        record.notify = sorted(set().union(*(contacts(mail, a, cfg, known) for a in linked))) if linked else []


def _record(kind: str, key: str, found, first_seen: float, policy: PolicyConfig, cfg: HuntConfig) -> HuntRecord:
    findings = [f for f, _ in found]
    score = sum(policy.score_of(f.symbol) * f.weight for f in findings)
    infected = score >= cfg.infected_score
    times = [t for _, t in found if t is not None]
    if infected and times:
        first_seen = min(times)
    return HuntRecord(kind, key, score, "infected" if infected else "clean", findings, first_seen)


def contacts(mail: MailView, account: str, cfg: HuntConfig, known: dict) -> set[str]:
    recipients, senders = known.get(account, (set(), set()))
    out = set(recipients)
    automated = set(cfg.automated_localparts)
    for sender in senders:
        local = sender.partition("@")[0]
        if sender and local not in automated and not mail.is_ours(sender):
            out.add(sender)
    graph = getattr(mail.knowledge, "contacts_of", None)  # the contact graph, when the store provides one
    if graph is not None:
        out.update(a for a in graph(account) if not mail.is_ours(a))
    return out
