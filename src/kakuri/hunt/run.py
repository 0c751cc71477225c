"""`run()`: analyse what the store holds; `hunt()`: the one-shot form (ingest into a throwaway store, then run).

Order of a run: summarise the days that changed (`daily.py`), decide the relays and the rare
destinations and score the network evidence in SQL (`analysis.py`), correct the maillog clock against
the edge sensor, aggregate the mail senders (`mail.py`, SQL too), then score in Python over the
aggregates (a few rows per host and account).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

from kakuri.decide.policy import PolicyConfig
from kakuri.hunt import mail
from kakuri.hunt.analysis import analyse_network
from kakuri.hunt.clock_skew import estimate_offset
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.daily import connect, mail_days, network_days, refresh, refresh_mail, summary_glob
from kakuri.hunt.feeds import Feeds
from kakuri.hunt.formats import ParseStats, log
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
    summarised_mail_days: list[str] = field(default_factory=list)  # the same for the maillog's days
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
        days, maildays = network_days(store, since), mail_days(store, since)
        redone = refresh(store, con, cfg, days)
        redone_mail = refresh_mail(store, con, cfg, maildays)
        if maildays:
            mail.prepare(con, {name: summary_glob(store, f"mail_{name}", maildays) for name in mail.MAIL_DAILY})
        view = analyse_network(con, store, days, feeds, cfg, mail.server_names(con) if maildays else set())
        offset = 0.0
        if maildays and "maillog" not in cfg.timezones:
            offset = estimate_offset(mail.clock_samples(con), view.smtp_inbound) or 0.0
            if offset:
                log.warning("maillog clock is %+.2f h off the network logs; corrected (set [hunt] timezones.maillog "
                            "to silence this)", offset / 3600)
        if maildays:
            mail_view = mail.aggregate(con, offset=offset, window_seconds=cfg.burst_window_seconds, knowledge=knowledge)
            correspondents = partial(mail.correspondents, con)
        else:
            mail_view, correspondents = mail.MailView(knowledge=knowledge), lambda accounts: {}
        for ip, name in mail_view.host_names.items():
            view.names.setdefault(ip, name)
        records = build_records(view, mail_view, policy, cfg, correspondents)
    finally:
        con.close()
    return HuntReport(records=records, stats=ParseStats(), seconds=time.perf_counter() - started,
                      lines=store.lines, summarised_days=redone, summarised_mail_days=redone_mail,
                      relays=view.relays)
