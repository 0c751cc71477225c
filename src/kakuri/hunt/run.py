"""`run()`: analyse what the store holds; `hunt()`: the one-shot form (ingest into a throwaway store, then run).

Order of a run: summarise the days that changed (`daily.py`), decide the relays and the rare
destinations and score the network evidence in SQL (`analysis.py`), read the mail transactions in
sequence (`mail.py`, the one per-record Python step left: its sliding windows and "first contact"
state follow the order of the log), correct the maillog clock against the edge sensor, then score.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from kakuri.decide.policy import PolicyConfig
from kakuri.hunt.addresses import InternalNetworks
from kakuri.hunt.analysis import analyse_network
from kakuri.hunt.clock_skew import estimate_offset
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.daily import connect, network_days, refresh
from kakuri.hunt.events import MailRecipient, MailTransaction
from kakuri.hunt.feeds import Feeds
from kakuri.hunt.formats import ParseStats, log
from kakuri.hunt.mail import MailAggregate
from kakuri.hunt.sources import LogFile
from kakuri.hunt.store import HuntStore
from kakuri.hunt.verdicts import HuntRecord, build_records


@dataclass
class HuntReport:
    records: list[HuntRecord]
    stats: ParseStats
    seconds: float
    lines: int = 0  # log lines behind this result
    files: list[LogFile] = field(default_factory=list)
    summarised_days: list[str] = field(default_factory=list)  # days whose summary this run (re)built
    relays: dict[str, str] = field(default_factory=dict)

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def hunt(
    files: Iterable[LogFile],
    feeds: Feeds,
    policy: PolicyConfig,
    cfg: HuntConfig | None = None,
    *,
    knowledge=None,
    on_progress: Callable[[int], None] | None = None,
) -> HuntReport:
    cfg = cfg or HuntConfig()
    files = list(files)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kakuri-hunt-") as folder:
        store = HuntStore(Path(folder))
        ingested = store.ingest(files, cfg, on_progress=on_progress)
        report = run(store, feeds, policy, cfg, knowledge=knowledge)
    report.stats, report.files = ingested.stats, files
    report.seconds = time.perf_counter() - started
    return report


def run(
    store: HuntStore,
    feeds: Feeds,
    policy: PolicyConfig,
    cfg: HuntConfig | None = None,
    *,
    since: str | None = None,
    knowledge=None,
) -> HuntReport:
    """Score every host and account seen on or after `since` (YYYY-MM-DD, UTC; None = everything)."""
    cfg = cfg or HuntConfig()
    started = time.perf_counter()
    con = connect(cfg, store)
    try:
        days = network_days(store, since)
        redone = refresh(store, con, cfg, days)
        mail = _read_mail(con, store, cfg, since, knowledge)
        view = analyse_network(con, store, days, feeds, cfg, mail.server_names)
    finally:
        con.close()
    if "maillog" not in cfg.timezones and mail.transactions:
        offset = estimate_offset(mail.clock_samples, view.smtp_inbound)
        if offset:
            log.warning("maillog clock is %+.2f h off the network logs; corrected (set [hunt] timezones.maillog "
                        "to silence this)", offset / 3600)
            mail.shift(-offset)
    for ip, name in mail.host_names.items():
        view.names.setdefault(ip, name)
    records = build_records(view, mail, policy, cfg)
    return HuntReport(records=records, stats=ParseStats(), seconds=time.perf_counter() - started,
                      lines=store.lines, summarised_days=redone, relays=view.relays)


def _read_mail(con, store: HuntStore, cfg: HuntConfig, since: str | None, knowledge) -> MailAggregate:
    mail = MailAggregate(InternalNetworks(cfg.internal_networks), burst_window_seconds=cfg.burst_window_seconds,
                         knowledge=knowledge)
    days = [d for d in store.days("mail") if since is None or d >= since]
    files = [str(p) for d in days for p in store.day_files("mail", d)]
    if not files:
        return mail
    cursor = con.execute(f"""
        SELECT queue_id, ts, client_ip, client_name, sasl_username, sender, subject, helo, is_bounce_notice, server,
               recipients
        FROM read_parquet({files!r}) ORDER BY seq""")
    while batch := cursor.fetchmany(10_000):
        for qid, ts, client_ip, client_name, sasl, sender, subject, helo, bounce, server, rcpts in batch:
            mail.add(MailTransaction(
                queue_id=qid, ts=ts, client_ip=client_ip, client_name=client_name, sasl_username=sasl, sender=sender,
                subject=subject, helo=helo, is_bounce_notice=bounce, server=server,
                recipients=[MailRecipient(r["address"], r["status"], r["dsn"], r["local"], r["relay"]) for r in rcpts]))
    return mail
