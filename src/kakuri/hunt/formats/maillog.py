"""Postfix syslog (maillog): lines of one queue id assembled into a `MailTransaction`.

BSD syslog stamps have no year and no zone: the zone comes from config, the year is the one that puts
the line closest to a reference time (the other logs' start, then the previous line), which also
carries a December -> January rollover. RFC 3339 stamps (rsyslog) are used as written.
Transactions are emitted at `removed`; unfinished ones are flushed at the end or when too many are open.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo

from kakuri.hunt.events import MailRecipient, MailTransaction
from kakuri.hunt.formats import ParseStats

MAX_OPEN_TRANSACTIONS = 50_000
_MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
_BSD = re.compile(r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\S+) (\S+?)(?:\[\d+\])?: (.*)$")
_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\S+) (\S+) (\S+?)(?:\[\d+\])?: (.*)$")
_QID = re.compile(r"^([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}): (.*)$")
_CLIENT = re.compile(r"client=([^\[\s,]*)\[([^\]]*)\]")
_SASL = re.compile(r"sasl_username=([^,\s]+)")
_ADDR = {key: re.compile(key + r"=<([^>]*)>") for key in ("from", "to", "helo")}
_STATUS = re.compile(r"status=(\w+)")
_DSN = re.compile(r"dsn=([\d.]+)")
_RELAY = re.compile(r"relay=([^\[,\s]+)")
_SUBJECT = re.compile(r"warning: header Subject: (.*?) from \S+\[[^\]]*\];")
_NDR = re.compile(r"sender non-delivery notification: (\w+)")
_LOCAL_AGENTS = ("lmtp", "local", "virtual", "pipe")


class SyslogClock:
    """Year and zone for year-less syslog stamps."""

    def __init__(self, *, tz: str = "UTC", year: int | None = None, reference: float | None = None,
                 reference_is_end: bool = False):
        self.zone = ZoneInfo(tz)
        self.year = year
        self.reference = reference
        # A file's mtime is when logging ended: the first line is the latest date not after it
        self.reference_is_end = reference_is_end
        self._cache: dict[tuple, float] = {}
        self._last_minute: tuple | None = None
        self._last_base = 0.0

    def bsd(self, month: str, day: int, hh: int, mm: int, ss: int) -> float:
        minute = (month, day, hh, mm)
        if minute == self._last_minute:  # consecutive lines share their minute: skip the year search
            self.reference = self._last_base + ss
            return self.reference
        mon = _MONTHS[month]
        years = [self.year] if self.year else self._candidate_years()
        best = None
        for year in years:
            key = (year, mon, day, hh, mm)
            base = self._cache.get(key)
            if base is None:
                try:
                    base = datetime(year, mon, day, hh, mm, tzinfo=self.zone).timestamp()
                except ValueError:  # 29 February exists in one candidate year only
                    continue
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[key] = base
            ts = base + ss
            if self.reference_is_end:
                if ts <= self._ref() + 2 * 86400 and (best is None or ts > best):
                    best = ts
            elif best is None or abs(ts - self._ref()) < abs(best - self._ref()):
                best = ts
        if best is None:  # every candidate after the mtime: the clock was wrong; take the earliest that exists
            best = min(base + ss for (y, *rest), base in self._cache.items() if y in years and tuple(rest) == (mon, day, hh, mm))
        self.reference, self.reference_is_end = best, False
        self._last_minute, self._last_base = minute, best - ss
        return best

    def iso(self, stamp: str) -> float:
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        ts = moment.timestamp()
        self.reference = ts
        return ts

    def _ref(self) -> float:
        return self.reference if self.reference is not None else datetime.now(self.zone).timestamp()

    def _candidate_years(self) -> list[int]:
        year = datetime.fromtimestamp(self._ref(), self.zone).year
        return [year - 1, year, year + 1]


def parse_maillog(lines: Iterable[str], stats: ParseStats, source: str, clock: SyslogClock) -> Iterator[MailTransaction]:
    open_tx: dict[str, MailTransaction] = {}
    bounce_ids: set[str] = set()
    for line in lines:
        stats.lines += 1
        parsed = _split(line, clock)
        if parsed is None:
            if line.strip():
                stats.skip(source, line, "not a syslog line")
            continue
        ts, host, program, message = parsed
        if not program.startswith("postfix"):
            continue
        match = _QID.match(message)
        if not match:
            continue  # connect/disconnect, NOQUEUE rejects, daemon notices
        qid, rest = match.groups()
        tx = open_tx.get(qid)
        if tx is None:
            tx = open_tx[qid] = MailTransaction(queue_id=qid, ts=ts, is_bounce_notice=qid in bounce_ids, server=host)
            bounce_ids.discard(qid)
            if len(open_tx) > MAX_OPEN_TRANSACTIONS:
                yield open_tx.pop(next(iter(open_tx)))
        _apply(tx, program, rest, bounce_ids)
        if rest == "removed":
            yield open_tx.pop(qid)
    yield from open_tx.values()


def _split(line: str, clock: SyslogClock) -> tuple[float, str, str, str] | None:
    try:
        m = _BSD.match(line)
        if m:
            mon, day, hh, mm, ss, host, program, message = m.groups()
            return clock.bsd(mon, int(day), int(hh), int(mm), int(ss)), host, program, message.rstrip("\n")
        m = _ISO.match(line)
        if m:
            stamp, host, program, message = m.groups()
            return clock.iso(stamp), host, program, message.rstrip("\n")
    except (KeyError, ValueError):
        return None
    return None


def _apply(tx: MailTransaction, program: str, rest: str, bounce_ids: set[str]) -> None:
    if rest.startswith("client="):
        client = _CLIENT.search(rest)
        if client:
            name, tx.client_ip = client.group(1), client.group(2)
            tx.client_name = None if name in ("", "unknown") else name.lower()
        sasl = _SASL.search(rest)
        if sasl:
            tx.sasl_username = sasl.group(1).lower()
    elif rest.startswith("warning: header Subject:"):
        subject = _SUBJECT.search(rest)
        tx.subject = subject.group(1) if subject else rest[len("warning: header Subject: "):]
        helo = _ADDR["helo"].search(rest)
        tx.helo = helo.group(1) if helo else tx.helo
    elif rest.startswith("from=<"):
        tx.sender = _ADDR["from"].search(rest).group(1).lower()
    elif rest.startswith("to=<"):
        status = _STATUS.search(rest)
        dsn = _DSN.search(rest)
        agent = program.rsplit("/", 1)[-1]
        relay = _RELAY.search(rest)
        tx.recipients.append(
            MailRecipient(
                address=_ADDR["to"].search(rest).group(1).lower(),
                status=status.group(1) if status else "",
                dsn=dsn.group(1) if dsn else "",
                local=agent in _LOCAL_AGENTS,
                relay=relay.group(1).lower() if relay else "",
            )
        )
    elif rest.startswith("sender non-delivery notification"):
        ndr = _NDR.search(rest)
        if ndr:
            bounce_ids.add(ndr.group(1))
