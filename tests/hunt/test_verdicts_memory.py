"""`build_records` consumes the views: aggregates and records are never both held whole (a run's Python peak)."""

from __future__ import annotations

import tracemalloc

from kakuri.decide.policy import load_policy
from kakuri.hunt.analysis import HostView, NetworkView
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.mail import MailView, SenderStats
from kakuri.hunt.verdicts import build_records

HOSTS = 6000


def _views() -> tuple[NetworkView, MailView]:
    hosts = {f"10.{i // 65536}.{i // 256 % 256}.{i % 256}": HostView(first_seen=1e9 + i, last_seen=1e9 + i + 60,
                                                                     dns_queries=i % 7) for i in range(HOSTS)}
    mail = MailView()
    for i in range(HOSTS):
        mail.accounts[f"user{i}@example.org"] = SenderStats(first_seen=1e9 + i, messages=3,
                                                            clients=frozenset({f"10.0.{i // 256 % 256}.{i % 256}"}))
        mail.hosts[f"10.0.{i // 256 % 256}.{i % 256}"] = SenderStats(first_seen=1e9 + i, messages=3)
    net = NetworkView(hosts=hosts, relays={}, names={}, forward={}, smtp_inbound={}, window_seconds=86400.0)
    return net, mail


def test_records_replace_the_views_instead_of_adding_to_them():
    policy, cfg = load_policy(), HuntConfig()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        net, mail = _views()
        views = tracemalloc.get_traced_memory()[0] - baseline
        tracemalloc.reset_peak()
        records = build_records(net, mail, policy, cfg, lambda accounts: {})
        peak = tracemalloc.get_traced_memory()[1] - baseline
        assert not net.hosts and not mail.hosts and not mail.accounts
        del net, mail
        kept = tracemalloc.get_traced_memory()[0] - baseline  # the records alone
    finally:
        tracemalloc.stop()
    assert len(records) == 2 * HOSTS and not any(r.verdict == "infected" for r in records)
    # holding every aggregate until the last record is built peaks at views + records (measured: 0.96 of it; consumed: 0.79)
    assert peak < 0.85 * (views + kept), (views, kept, peak)
