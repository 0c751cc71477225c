"""Each log format: fields by name, malformed lines counted and skipped, never a crash."""

from __future__ import annotations

from datetime import datetime, timezone

from kakuri.hunt.formats import ParseStats
from kakuri.hunt.formats.maillog import SyslogClock, parse_maillog
from kakuri.hunt.formats.squid import parse_squid
from kakuri.hunt.formats.zeek import parse_zeek
from kakuri.hunt.events import Connection, DnsAnswer


def test_squid_lines_become_requests_and_garbage_is_counted():
    stats = ParseStats()
    lines = [
        "1580655631.231    403 10.20.2.165 TCP_MISS/200 313 GET http://connect.example/test.txt - HIER_DIRECT/198.51.100.3 text/plain\n",
        "1580655632.000     10 10.20.2.165 TCP_TUNNEL/200 900 CONNECT www.example:443 - HIER_DIRECT/203.0.113.5 -\n",
        "this is not squid\n",
        "1580655633.000 x 10.20.2.165 TCP_MISS/abc 1 GET http://a/ - HIER_NONE/- -\n",
    ]
    requests = list(parse_squid(lines, stats, "access.log"))
    assert [(r.host, r.port, r.path) for r in requests] == [("connect.example", 80, "/test.txt"), ("www.example", 443, "")]
    assert requests[0].server_ip == "198.51.100.3"
    assert stats.malformed == {"access.log": 2}


def test_zeek_tsv_uses_the_fields_header_and_skips_short_rows():
    stats = ParseStats()
    lines = [
        "#separator \\x09\n",
        "#path\tconn\n",
        "#fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tservice\tconn_state\n",
        "1580655630.8\t10.0.0.5\t192.0.2.1\t8080\ttcp\thttp\tSF\n",
        "1580655631.8\t10.0.0.5\t192.0.2.1\n",
        "#path\tdns\n",
        "#fields\tts\tid.orig_h\tid.resp_h\tquery\tqtype_name\tanswers\n",
        "1580655632.0\t10.0.0.5\t10.0.0.53\tWWW.Example.\tA\t192.0.2.9,192.0.2.10\n",
    ]
    events = list(parse_zeek(lines, stats, "mixed.log"))
    assert isinstance(events[0], Connection) and events[0].resp_port == 8080 and events[0].established
    assert isinstance(events[1], DnsAnswer) and events[1].query == "www.example"
    assert events[1].answers == ("192.0.2.9", "192.0.2.10")
    assert stats.malformed == {"mixed.log": 1}


def test_zeek_json_lines_are_read_too():
    stats = ParseStats()
    line = '{"ts":1580655630.8,"id.orig_h":"10.0.0.5","id.resp_h":"192.0.2.1","id.resp_p":443,"proto":"tcp","conn_state":"S0"}\n'
    (event,) = parse_zeek([line], stats, "conn.json")
    assert isinstance(event, Connection) and not event.established


def _tx_lines(stamp: str) -> list[str]:
    return [
        f"{stamp} mail01 postfix/submission/smtpd[1]: 4A1B2C3D4E: client=pc1.corp.example[10.0.0.7], sasl_method=LOGIN, sasl_username=Ann@Corp.example\n",
        f"{stamp} mail01 postfix/qmgr[2]: 4A1B2C3D4E: from=<ann@corp.example>, size=10, nrcpt=1 (queue active)\n",
        f"{stamp} mail01 postfix/smtp[3]: 4A1B2C3D4E: to=<bob@partner.example>, relay=mx[192.0.2.1]:25, dsn=5.1.1, status=bounced (unknown)\n",
        f"{stamp} mail01 postfix/qmgr[2]: 4A1B2C3D4E: removed\n",
    ]


def test_maillog_transaction_is_assembled_and_year_comes_from_the_reference():
    reference = datetime(2019, 12, 31, 23, 0, tzinfo=timezone.utc).timestamp()
    stats = ParseStats()
    lines = _tx_lines("Dec 31 23:59:58") + ["garbage line\n"] + [l.replace("4A1B2C3D4E", "5B2C3D4E5F") for l in _tx_lines("Jan  1 00:00:05")]
    txs = list(parse_maillog(lines, stats, "maillog", SyslogClock(reference=reference)))
    assert [datetime.fromtimestamp(t.ts, timezone.utc).year for t in txs] == [2019, 2020]  # rollover carried
    assert txs[0].sasl_username == "ann@corp.example" and txs[0].client_ip == "10.0.0.7"
    assert txs[0].recipients[0].status == "bounced" and not txs[0].recipients[0].local
    assert stats.malformed == {"maillog": 1}


def test_maillog_in_japan_time_is_converted_to_utc():
    reference = datetime(2020, 2, 3, tzinfo=timezone.utc).timestamp()
    clock = SyslogClock(tz="Asia/Tokyo", reference=reference)
    (tx,) = parse_maillog(_tx_lines("Feb  3 09:00:00"), ParseStats(), "maillog", clock)
    assert datetime.fromtimestamp(tx.ts, timezone.utc) == datetime(2020, 2, 3, 0, 0, tzinfo=timezone.utc)


def test_rfc3339_syslog_stamps_keep_their_offset():
    (tx,) = parse_maillog(_tx_lines("2020-02-03T09:00:00+09:00"), ParseStats(), "maillog", SyslogClock())
    assert datetime.fromtimestamp(tx.ts, timezone.utc).hour == 0


def test_without_other_logs_the_year_is_the_latest_not_after_the_file_date():
    file_date = datetime(2021, 1, 10, tzinfo=timezone.utc).timestamp()
    clock = SyslogClock(reference=file_date, reference_is_end=True)
    (tx,) = parse_maillog(_tx_lines("Dec 30 10:00:00"), ParseStats(), "maillog", clock)
    assert datetime.fromtimestamp(tx.ts, timezone.utc).year == 2020


def test_zeek_json_with_iso_timestamps():
    line = '{"ts":"2020-02-02T15:00:30.5Z","id.orig_h":"10.0.0.5","id.resp_h":"192.0.2.1","id.resp_p":80,"proto":"tcp","conn_state":"SF"}\n'
    (event,) = parse_zeek([line], ParseStats(), "conn.json")
    assert event.ts == datetime(2020, 2, 2, 15, 0, 30, 500000, tzinfo=timezone.utc).timestamp()


def test_leap_day_syslog_stamp_is_dated_in_the_leap_year():
    clock = SyslogClock(reference=datetime(2020, 2, 28, tzinfo=timezone.utc).timestamp())
    ts = clock.bsd("Feb", 29, 10, 0, 0)
    assert datetime.fromtimestamp(ts, timezone.utc) == datetime(2020, 2, 29, 10, 0, tzinfo=timezone.utc)
