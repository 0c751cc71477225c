"""`kakuri hunt`: every host and account in --json, the warning list in --notify-csv, bad lines survive."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from kakuri.cli.main import app
from tests.hunt.conftest import FEODO_HEADER
from tests.hunt.logbuilders import HOUR, T0, Maillog, hosts, office_traffic, squid

VICTIM = "10.1.9.66"


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    logs, feeds = tmp_path / "logs", tmp_path / "feeds"
    logs.mkdir(parents=True)
    feeds.mkdir()
    beats = [squid(T0 + 9 * HOUR + i * 900, VICTIM, "POST", f"http://192.0.2.201:8080/p{i}/", server_ip="192.0.2.201",
                   mime="application/octet-stream") for i in range(12)]
    lines = office_traffic(hosts(20)) + beats
    (logs / "access.log").write_text("".join(sorted(lines)) + "garbage that is not squid\n", encoding="utf-8")
    mail = Maillog()
    mail.submit(T0 + 10 * HOUR, "ann@corp.example", ["bob@partner.example"], client_ip=VICTIM)
    mail.deliver(T0 + 8 * HOUR, "carol@customer.example", ["ann@corp.example"])
    mail.write(logs / "maillog")
    (feeds / "feodo.csv").write_text(FEODO_HEADER + '"2021-01-01 00:00:00","192.0.2.201","8080","online","2021-03-01","Emotet"\n')
    return logs, feeds


def test_hunt_writes_every_host_and_account_and_the_warning_list(tmp_path: Path):
    logs, feeds = _inputs(tmp_path)
    out, notify = tmp_path / "hunt.json", tmp_path / "notify.csv"
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "hunt", "--feeds", str(feeds), str(logs),
                                      "--json", str(out), "--notify-csv", str(notify)])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    by_key = {r.get("host") or r.get("account"): r for r in records}
    assert len([r for r in records if "host" in r]) == 21 and "ann@corp.example" in by_key
    victim = by_key[VICTIM]
    assert victim["verdict"] == "infected" and isinstance(victim["score"], float)
    assert victim["first_seen"].endswith("Z") and victim["evidence"][0]["symbol"].startswith("HUNT_")
    assert set(victim["notify"]) == {"bob@partner.example", "carol@customer.example"}
    assert all(r["verdict"] == "clean" and r["notify"] == [] for k, r in by_key.items() if k != VICTIM)
    rows = list(csv.DictReader(notify.open()))
    assert {(r["contact"], r["on_behalf_of"]) for r in rows} == {("bob@partner.example", VICTIM),
                                                                ("carol@customer.example", VICTIM)}
    assert not (tmp_path / "home").exists()  # a hunt creates no database
    assert "1 malformed skipped" in result.output


def test_hunt_evaluates_against_labels(tmp_path: Path):
    logs, feeds = _inputs(tmp_path)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"infected_hosts": [{"ip": VICTIM}], "compromised_accounts": [],
                                  "notify_all": ["bob@partner.example"]}))
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "hunt", "--feeds", str(feeds), str(logs),
                                      "--labels", str(labels), "--show", "none"])
    assert result.exit_code == 0, result.output
    assert "score: host_precision=1.000 host_recall=1.000" in result.output


def test_hunt_without_readable_logs_is_a_clear_error(tmp_path: Path):
    (tmp_path / "feeds").mkdir()
    (tmp_path / "notes.txt").write_text("hello\n")
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "hunt", "--feeds", str(tmp_path / "feeds"),
                                      str(tmp_path / "notes.txt")])
    assert result.exit_code == 2
    assert "no recognisable log files" in result.output


def test_ingest_then_run_prints_one_line_per_finding_and_jsonl_or_csv_on_request(tmp_path: Path):
    logs, feeds = _inputs(tmp_path)
    home = ["--home", str(tmp_path / "home")]
    runner = CliRunner()
    first = runner.invoke(app, [*home, "hunt", "ingest", str(logs)])
    assert first.exit_code == 0, first.output
    assert "2 file(s) ingested" in first.output and "1 malformed line(s) skipped" in first.output
    assert "garbage that is not squid" in first.output  # the sample, shown once in the summary
    again = runner.invoke(app, [*home, "hunt", "ingest", str(logs)])
    assert "0 file(s) ingested, 2 already there" in again.output

    lines = runner.invoke(app, [*home, "hunt", "run", "--feeds", str(feeds)])  # not a terminal: one line per finding
    assert lines.exit_code == 0, lines.output
    found = [line for line in lines.output.splitlines() if line.startswith(f"host {VICTIM} infected score=")]
    assert any(" HUNT_FEED_C2 count=12 distinct=1 examples=192.0.2.201:8080" in line for line in found)

    jsonl = runner.invoke(app, [*home, "hunt", "run", "--feeds", str(feeds), "--format", "jsonl"])
    rows = [json.loads(line) for line in jsonl.output.splitlines() if line.startswith("{")]
    assert {r["key"] for r in rows} == {VICTIM} and "HUNT_FEED_C2" in {r["symbol"] for r in rows}

    table = runner.invoke(app, [*home, "hunt", "run", "--feeds", str(feeds), "--format", "csv", "--show", "all"])
    output = table.output[table.output.index("kind,key,"):]
    parsed = [r for r in csv.DictReader(output.splitlines()) if r["kind"] in ("host", "account")]
    assert {"ann@corp.example", VICTIM} <= {r["key"] for r in parsed} and parsed[0]["verdict"] == "infected"


def test_run_without_a_store_says_to_ingest_first(tmp_path: Path):
    _, feeds = _inputs(tmp_path)
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "hunt", "run", "--feeds", str(feeds)])
    assert result.exit_code == 2 and "kakuri hunt ingest" in result.output


def test_bench_on_two_copies_reports_rates_memory_and_the_score(tmp_path: Path):
    logs, feeds = _inputs(tmp_path / "source")
    (tmp_path / "source" / "labels.json").write_text(json.dumps({"infected_hosts": [{"ip": VICTIM}]}))
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "hunt", "bench", "--source",
                                      str(tmp_path / "source"), "--copies", "2", "--work", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    assert "generated 2 copies" in result.output
    assert "run (after ingest):" in result.output and "per CPU-second), peak memory" in result.output
    assert "2 infected of" in result.output  # the victim and its renumbered twin
    assert "score: host_precision=1.000 host_recall=1.000" in result.output
