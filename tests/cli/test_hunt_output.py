"""hunt's result printing: the table fits the terminal; lines, jsonl and csv carry one finding per row."""

from __future__ import annotations

import io
import json
import shlex

from kakuri.cli.hunt_output import print_records

RECORDS = [
    {"host": "10.1.9.66", "hostname": "pc-066.corp.example", "score": 23.0, "verdict": "infected",
     "first_seen": "2021-03-01T09:00:00Z", "notify": ["bob@partner.example"], "accounts": ["ann@corp.example"],
     "evidence": [{"symbol": "HUNT_FEED_C2", "detector": "hunt", "evidence": {"count": "12", "examples": "192.0.2.1:8080 192.0.2.2:443"}},
                  {"symbol": "HUNT_BEACON", "detector": "hunt", "evidence": {"dst": "192.0.2.1", "period_s": "900"}}]},
    {"host": "10.1.2.10", "hostname": None, "score": 0.0, "verdict": "clean", "first_seen": "2021-03-01T08:00:00Z",
     "notify": [], "accounts": [], "evidence": []},
]


def _printed(fmt: str, show: str = "infected") -> str:
    out = io.StringIO()
    print_records(RECORDS, fmt=fmt, show=show, out=out)
    return out.getvalue()


def test_table_drops_secondary_columns_on_a_narrow_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    wide = _printed("table")
    assert "first seen" in wide and "pc-066.corp.example" in wide and "FEED_C2 BEACON" in wide
    monkeypatch.setenv("COLUMNS", "60")
    narrow = _printed("table")
    assert "first seen" not in narrow and "10.1.9.66" in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 60


def test_auto_is_one_line_per_finding_when_not_a_terminal_and_lines_split_back():
    lines = _printed("auto").splitlines()
    assert len(lines) == 2 and all(line.startswith("host 10.1.9.66 infected score=23 ") for line in lines)
    tokens = shlex.split(lines[0])
    assert tokens[4] == "HUNT_FEED_C2"
    assert dict(token.split("=", 1) for token in tokens[5:]) == {"count": "12", "examples": "192.0.2.1:8080 192.0.2.2:443"}


def test_jsonl_and_csv_carry_the_same_rows():
    rows = [json.loads(line) for line in _printed("jsonl", show="all").splitlines()]
    assert [(r["key"], r["symbol"]) for r in rows] == [("10.1.9.66", "HUNT_FEED_C2"), ("10.1.9.66", "HUNT_BEACON"),
                                                       ("10.1.2.10", "")]
    csv_lines = _printed("csv").splitlines()
    assert csv_lines[0].startswith("kind,key,name,verdict,score") and len(csv_lines) == 3
