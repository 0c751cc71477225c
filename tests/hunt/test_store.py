"""The columnar store: every log format lands in Parquet by table and day, each file once, grown files in part."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb

from kakuri.hunt.sources import expand
from kakuri.hunt.store import HuntStore
from tests.hunt.logbuilders import DAY, HOUR, T0, Maillog, conn, dns, squid, zeek_file

PC = "10.1.2.10"


def _rows(store: HuntStore, table: str, columns: str = "*") -> list[tuple]:
    return duckdb.sql(f"SELECT {columns} FROM read_parquet('{store.table_glob(table)}', hive_partitioning = true) "
                      "ORDER BY ts").fetchall()


def test_each_log_format_becomes_rows_of_its_table_partitioned_by_day(tmp_path: Path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_text(
        squid(T0 + HOUR, PC, "POST", "http://192.0.2.7:8080/gate.php", server_ip="192.0.2.7")
        + squid(T0 + DAY + HOUR, PC, "CONNECT", "www.example.com:443", server_ip="203.0.113.5", mime="-"))
    zeek_file(logs / "conn.log", "conn", [conn(T0 + 2 * HOUR, PC, "198.51.100.9", 7080)])
    zeek_file(logs / "dns.log", "dns", [dns(T0 + 3 * HOUR, PC, "www.example.com", ["203.0.113.5"])])
    (logs / "files.log").write_text(
        '{"ts":%f,"rx_hosts":["%s"],"tx_hosts":["192.0.2.7"],"sha256":"%s"}\n' % (T0 + 4 * HOUR, PC, "ab" * 32))
    mail = Maillog()
    mail.submit(T0 + 5 * HOUR, "ann@corp.example", ["bob@partner.example", "cy@corp.example"], client_ip=PC,
                local=("cy@corp.example",))
    mail.write(logs / "maillog")
    files, unknown = expand([logs])
    assert not unknown
    store = HuntStore(tmp_path / "store")
    report = store.ingest(files)

    assert report.stats.lines == 2 + 5 + 5 + 1 + 6 and report.stats.malformed_total == 0 and report.rows == 6
    assert store.days("web") == ["2021-03-01", "2021-03-02"]
    web = _rows(store, "web", "client, method, host, port, path, server_ip, day")
    assert web[0][:6] == (PC, "POST", "192.0.2.7", 8080, "/gate.php", "192.0.2.7")
    assert web[1][1:4] == ("CONNECT", "www.example.com", 443) and str(web[1][6]) == "2021-03-02"
    assert _rows(store, "conn", "orig, resp, resp_port, proto, state") == [(PC, "198.51.100.9", 7080, "tcp", "SF")]
    assert _rows(store, "dns", "client, query, qtype, answers") == [(PC, "www.example.com", "A", ["203.0.113.5"])]
    assert _rows(store, "files", "host, sha256, source") == [(PC, "ab" * 32, "192.0.2.7")]
    (tx,) = _rows(store, "mail", "client_ip, sasl_username, sender, recipients")
    assert tx[:3] == (PC, "ann@corp.example", "ann@corp.example")
    assert [(r["address"], r["local"]) for r in tx[3]] == [("bob@partner.example", False), ("cy@corp.example", True)]


def test_a_file_is_ingested_once_even_renamed_and_gzipped_by_logrotate(tmp_path: Path):
    text = "".join(squid(T0 + i * 60, PC, "GET", f"http://a.example/{i}") for i in range(10))
    (tmp_path / "access.log").write_text(text)
    store = HuntStore(tmp_path / "store")
    store.ingest(expand([tmp_path / "access.log"])[0])
    with gzip.open(tmp_path / "access.log.1.gz", "wt") as out:
        out.write(text)
    again = store.ingest(expand([tmp_path / "access.log.1.gz"])[0])
    assert again.skipped == [str(tmp_path / "access.log.1.gz")] and again.stats.lines == 0
    assert len(_rows(store, "web")) == 10 and store.lines == 10


def test_a_grown_log_contributes_only_its_new_lines(tmp_path: Path):
    first = "".join(squid(T0 + i * 60, PC, "GET", f"http://a.example/{i}") for i in range(10))
    log = tmp_path / "access.log"
    log.write_text(first)
    store = HuntStore(tmp_path / "store")
    store.ingest(expand([log])[0])
    log.write_text(first + "".join(squid(T0 + 3600 + i * 60, PC, "GET", f"http://b.example/{i}") for i in range(5)))
    report = store.ingest(expand([log])[0])
    assert report.appended == [str(log)] and report.stats.lines == 5
    hosts = [h for (h,) in _rows(store, "web", "host")]
    assert hosts.count("a.example") == 10 and hosts.count("b.example") == 5 and store.lines == 15


def test_malformed_lines_are_counted_and_the_first_few_kept_as_samples(tmp_path: Path):
    lines = [squid(T0 + i, PC, "GET", "http://a.example/") for i in range(50)]
    lines += [f"{T0 + 100 + i:.3f} x {PC} TCP_MISS/abc 1 GET http://a/ - HIER_NONE/- -\n" for i in range(500)]
    (tmp_path / "access.log").write_text("".join(lines))
    report = HuntStore(tmp_path / "store").ingest(expand([tmp_path / "access.log"])[0])
    assert report.stats.malformed == {str(tmp_path / "access.log"): 500}
    summary = report.stats.summary()
    assert summary[0].endswith("500 malformed line(s) skipped") and len(summary) == 1 + 3
