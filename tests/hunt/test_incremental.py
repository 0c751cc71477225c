"""Daily runs: the second day's logs reuse the first day's summaries and give the one-run-over-both-days result."""

from __future__ import annotations

import json
from pathlib import Path

from kakuri.decide.policy import load_policy
from kakuri.hunt import mail
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.daily import connect, mail_days, refresh_mail, summary_glob
from kakuri.hunt.feeds import Feeds, add_feed_text
from kakuri.hunt.run import run
from kakuri.hunt.sources import expand
from kakuri.hunt.store import HuntStore
from tests.hunt.conftest import FEODO_HEADER
from tests.hunt.logbuilders import (
    DAY,
    HOUR,
    T0,
    Maillog,
    conn,
    dns,
    hosts,
    office_traffic,
    squid,
    upstream_of,
    zeek_file,
)

OFFICE = hosts(30)
VICTIM = "10.1.9.66"
LATECOMER = "10.1.9.77"  # only seen on day two


def _day(folder: Path, day: int) -> Path:
    """One day of logs: office browsing through the proxy, a victim beaconing to C2s, its mail."""
    folder.mkdir(parents=True)
    start = T0 + day * DAY
    proxy = [line for line in office_traffic(OFFICE, days=2, seed=day) if start <= float(line.split()[0]) < start + DAY]
    proxy += [squid(start + 8 * HOUR + i * 1200 + (i % 3) * 7, VICTIM, "POST", f"http://192.0.2.20{i % 3}:8080/x{i}/",
                    server_ip=f"192.0.2.20{i % 3}", mime="application/octet-stream", size=600) for i in range(40)]
    if day == 1:
        proxy += [squid(start + 9 * HOUR + i * 600, LATECOMER, "GET", "http://news.example/", server_ip="203.0.113.80")
                  for i in range(5)]
    (folder / "access.log").write_text("".join(sorted(proxy)), encoding="utf-8")
    zeek_file(folder / "conn.log", "conn", upstream_of(proxy, "10.1.0.10") + [conn(start + 3600, VICTIM, "192.0.2.201", 8080)])
    zeek_file(folder / "dns.log", "dns", [dns(start + 60 * i, h, "news.example", ["203.0.113.80"])
                                          for i, h in enumerate(OFFICE + [VICTIM])])
    mail = Maillog(counter=0x10000 + day * 1000)
    mail.submit(start + 10 * HOUR, "ann@corp.example", [f"p{day}@partner.example"], client_ip=VICTIM)
    if day == 1:  # someone she wrote to yesterday: no longer a new recipient
        mail.submit(start + 11 * HOUR, "ann@corp.example", ["p0@partner.example"], client_ip=VICTIM)
    mail.deliver(start + 9 * HOUR, f"s{day}@customer.example", ["ann@corp.example"])
    mail.write(folder / "maillog")
    return folder


def _feeds() -> Feeds:
    feeds = Feeds()
    add_feed_text(feeds, FEODO_HEADER + '"2021-01-01 00:00:00","192.0.2.201","8080","online","2021-03-01","Emotet"\n')
    return feeds


def _result(report) -> list[dict]:
    return json.loads(json.dumps([r.as_json() for r in report.records]))


def test_second_day_reuses_the_first_days_summaries_and_matches_one_run_over_both(tmp_path: Path):
    day1, day2 = _day(tmp_path / "day1", 0), _day(tmp_path / "day2", 1)
    policy, feeds = load_policy(), _feeds()

    daily = HuntStore(tmp_path / "daily")
    daily.ingest(expand([day1])[0])
    first = run(daily, feeds, policy)
    assert first.summarised_days == ["2021-03-01"]
    summary = daily.root / "daily" / "pairs" / "day=2021-03-01.parquet"
    written = summary.stat().st_mtime_ns
    mail_summary = daily.root / "daily" / "mail_out" / "day=2021-03-01.parquet"
    mail_written = mail_summary.stat().st_mtime_ns
    daily.ingest(expand([day2])[0])
    second = run(daily, feeds, policy)
    assert second.summarised_days == ["2021-03-02"]  # day one is read back, not recomputed
    assert summary.stat().st_mtime_ns == written
    assert first.summarised_mail_days == ["2021-03-01"] and second.summarised_mail_days == ["2021-03-02"]
    assert mail_summary.stat().st_mtime_ns == mail_written  # the maillog's first day too

    whole = HuntStore(tmp_path / "whole")
    whole.ingest(expand([day1, day2])[0])
    once = run(whole, feeds, policy)
    assert _result(second) == _result(once)
    by_key = {r.get("host") or r.get("account"): r for r in _result(once)}
    assert by_key[VICTIM]["verdict"] == "infected" and LATECOMER in by_key
    assert set(by_key[VICTIM]["notify"]) == {"p0@partner.example", "p1@partner.example", "s0@customer.example",
                                             "s1@customer.example"}


def _senders(store: HuntStore) -> dict:
    """Every mail sender's counters as a run computes them from the stored day summaries."""
    cfg = HuntConfig()
    con = connect(cfg, store)
    try:
        days = mail_days(store)
        refresh_mail(store, con, cfg, days)
        mail.prepare(con, {name: summary_glob(store, f"mail_{name}", days) for name in mail.MAIL_DAILY})
        view = mail.aggregate(con, offset=0.0, window_seconds=cfg.burst_window_seconds)
    finally:
        con.close()
    return {**{f"account {k}": v for k, v in view.accounts.items()}, **{f"host {k}": v for k, v in view.hosts.items()}}


def test_mail_state_of_earlier_days_carries_into_a_later_days_counters(tmp_path: Path):
    """Recipients known from day one are not new on day two, whether the days were summarised apart or together."""
    day1, day2 = _day(tmp_path / "day1", 0), _day(tmp_path / "day2", 1)
    daily = HuntStore(tmp_path / "daily")
    daily.ingest(expand([day1])[0])
    _senders(daily)
    daily.ingest(expand([day2])[0])
    whole = HuntStore(tmp_path / "whole")
    whole.ingest(expand([day1, day2])[0])
    apart, together = _senders(daily), _senders(whole)
    assert apart == together
    ann = apart["account ann@corp.example"]
    assert ann.messages == 3 and ann.external_recipients == 3
    assert ann.new_recipients == 2  # p0 on day one, p1 on day two; p0 again on day two is known
    assert ann.first_seen == together["account ann@corp.example"].first_seen


def test_a_run_again_reads_everything_back_and_since_limits_the_days(tmp_path: Path):
    day1, day2 = _day(tmp_path / "day1", 0), _day(tmp_path / "day2", 1)
    store = HuntStore(tmp_path / "store")
    store.ingest(expand([day1, day2])[0])
    policy, feeds = load_policy(), _feeds()
    before = _result(run(store, feeds, policy))
    again = run(store, feeds, policy)
    assert again.summarised_days == [] and _result(again) == before
    recent = {r.get("host") or r.get("account") for r in _result(run(store, feeds, policy, since="2021-03-02"))}
    assert LATECOMER in recent and VICTIM in recent
    early = {r.get("host") or r.get("account") for r in _result(run(store, feeds, policy, since="2021-03-01"))}
    assert early >= recent
    only_first = HuntStore(tmp_path / "first")
    only_first.ingest(expand([day1])[0])
    assert LATECOMER not in {r.get("host") for r in _result(run(only_first, feeds, policy))}
