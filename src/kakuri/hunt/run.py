"""`hunt()`: stream the logs into the aggregates, then score every host and account.

Network logs are read before the maillog so that the syslog year can be inferred from their time span.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from kakuri.decide.policy import PolicyConfig
from kakuri.hunt.addresses import InternalNetworks
from kakuri.hunt.clock_skew import estimate_offset
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.events import Connection, DnsAnswer, FileSeen
from kakuri.hunt.feeds import Feeds
from kakuri.hunt.formats import ParseStats, log
from kakuri.hunt.formats.maillog import SyslogClock, parse_maillog
from kakuri.hunt.formats.squid import parse_squid
from kakuri.hunt.formats.zeek import parse_zeek
from kakuri.hunt.mail import MailAggregate
from kakuri.hunt.network import NetworkAggregate
from kakuri.hunt.sources import LogFile, read_lines
from kakuri.hunt.verdicts import HuntRecord, build_records

_ORDER = {"zeek": 0, "squid": 1, "maillog": 2}


@dataclass
class HuntReport:
    records: list[HuntRecord]
    stats: ParseStats
    seconds: float
    files: list[LogFile] = field(default_factory=list)

    @property
    def lines_per_second(self) -> float:
        return self.stats.lines / self.seconds if self.seconds else 0.0


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
    files = sorted(files, key=lambda f: _ORDER[f.kind])
    networks = InternalNetworks(cfg.internal_networks)
    net = NetworkAggregate(networks, feeds, max_timestamps=cfg.beacon_max_timestamps, stale_days=cfg.feed_stale_days)
    mail = MailAggregate(networks, burst_window_seconds=cfg.burst_window_seconds, knowledge=knowledge)
    stats = ParseStats()
    started = time.perf_counter()
    earliest: float | None = None
    for log_file in files:
        lines = _counting(read_lines(log_file.path), on_progress)
        source = str(log_file.path)
        if log_file.kind == "squid":
            for request in parse_squid(lines, stats, source):
                net.add_web(request)
                earliest = request.ts if earliest is None else min(earliest, request.ts)
        elif log_file.kind == "zeek":
            for event in parse_zeek(lines, stats, source):
                _add_zeek(net, event)
                earliest = event.ts if earliest is None else min(earliest, event.ts)
        else:
            clock = SyslogClock(
                tz=cfg.timezones.get("maillog", "UTC"),
                year=cfg.maillog_year,
                reference=earliest if earliest is not None else log_file.path.stat().st_mtime,
                reference_is_end=earliest is None,
            )
            for tx in parse_maillog(lines, stats, source, clock):
                mail.add(tx)
    if "maillog" not in cfg.timezones and mail.transactions:
        offset = estimate_offset(mail.clock_samples, net.smtp_inbound)
        if offset:
            log.warning("maillog clock is %+.2f h off the network logs; corrected (set [hunt] timezones.maillog "
                        "to silence this)", offset / 3600)
            mail.shift(-offset)
    for ip, name in mail.host_names.items():
        net.add_name(ip, name)
    records = build_records(net, mail, policy, cfg)
    return HuntReport(records=records, stats=stats, seconds=time.perf_counter() - started, files=list(files))


def _add_zeek(net: NetworkAggregate, event) -> None:
    if isinstance(event, Connection):
        net.add_connection(event)
    elif isinstance(event, DnsAnswer):
        net.add_dns(event)
    elif isinstance(event, FileSeen):
        net.add_file(event)


def _counting(lines: Iterable[str], on_progress: Callable[[int], None] | None) -> Iterable[str]:
    """Report progress in bytes read, every few thousand lines (cheap enough for tens of millions)."""
    if on_progress is None:
        yield from lines
        return
    pending = 0
    for i, line in enumerate(lines, 1):
        pending += len(line)
        yield line
        if i % 4096 == 0:
            on_progress(pending)
            pending = 0
    on_progress(pending)
