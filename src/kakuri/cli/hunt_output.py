"""How `kakuri hunt` prints its result: a table on a terminal, one line per finding anywhere else.

`table` fits the terminal: the evidence column folds, and the narrow-screen columns go first.
`lines` is one finding per line (host or account, verdict, score, symbol, evidence as key=value), for
grep, less and log shippers; `jsonl` and `csv` carry the same rows for tools. The JSON of every
record (`--json`) is separate and unchanged: `kakuri incident import-hunt` reads it.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Iterator, TextIO

from kakuri.cli.output import SafeConsole, SafeTable
from kakuri.display import visible

FORMATS = ("auto", "table", "lines", "jsonl", "csv")
NARROW = 100  # below this width the table drops the name, first-seen and notify columns


def finding_rows(records: list[dict]) -> Iterator[dict]:
    for r in sorted(records, key=lambda r: (-r["score"], r.get("host") or r.get("account"))):
        kind = "host" if "host" in r else "account"
        for e in r["evidence"] or [{"symbol": "", "evidence": {}}]:
            yield {"kind": kind, "key": r[kind], "name": r.get("hostname") or "", "verdict": r["verdict"],
                   "score": r["score"], "first_seen": r["first_seen"], "symbol": e["symbol"],
                   "evidence": e.get("evidence", {}), "notify": len(r["notify"])}


def print_records(records: list[dict], *, fmt: str, show: str, out: TextIO | None = None,
                  total: int | None = None) -> None:
    """`total`: hosts and accounts analysed, when `records` holds only the infected ones."""
    out = out or sys.stdout
    if show == "none":
        return
    rows = records if show == "all" else [r for r in records if r["verdict"] == "infected"]
    if fmt == "auto":
        fmt = "table" if out.isatty() else "lines"
    if fmt == "table":
        _table(rows, len(records) if total is None else total, out)
    elif fmt == "lines":
        for row in finding_rows(rows):
            evidence = " ".join(f"{k}={_token(v)}" for k, v in row["evidence"].items())
            out.write(visible(f"{row['kind']} {row['key']} {row['verdict']} score={row['score']:g} {row['symbol']} {evidence}")
                      .rstrip() + "\n")
    elif fmt == "jsonl":
        for row in finding_rows(rows):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        writer = csv.writer(out)
        writer.writerow(["kind", "key", "name", "verdict", "score", "first_seen", "symbol", "evidence", "notify"])
        for row in finding_rows(rows):
            evidence = " ".join(f"{k}={_token(v)}" for k, v in row["evidence"].items())
            writer.writerow([row["kind"], row["key"], row["name"], row["verdict"], row["score"], row["first_seen"],
                             row["symbol"], evidence, row["notify"]])


def _token(value: str) -> str:
    """Evidence values with spaces are quoted so that a line splits back into key=value pairs."""
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


def _table(rows: list[dict], total: int, out: TextIO) -> None:
    console = SafeConsole(file=out)  # hosts, names and accounts come from logs: shown, never parsed as markup
    narrow = console.width < NARROW
    infected = sum(1 for r in rows if r["verdict"] == "infected")
    table = SafeTable(title=f"hunt: {infected} infected of {total} hosts/accounts", expand=False)
    table.add_column("host / account", no_wrap=True)
    if not narrow:
        table.add_column("name", overflow="ellipsis", max_width=28)
    table.add_column("score", justify="right")
    table.add_column("verdict")
    if not narrow:
        table.add_column("first seen", no_wrap=True)
        table.add_column("notify", justify="right")
    table.add_column("evidence (HUNT_*)", overflow="fold", ratio=1)
    for r in sorted(rows, key=lambda r: -r["score"]):
        key = r.get("host") or r.get("account")
        symbols = " ".join(dict.fromkeys(e["symbol"].removeprefix("HUNT_") for e in r["evidence"]))
        cells = [key] + ([r.get("hostname") or ""] if not narrow else []) + [f"{r['score']:g}", r["verdict"]]
        if not narrow:
            cells += [r["first_seen"][:16], str(len(r["notify"]))]
        table.add_row(*cells, symbols, style="red" if r["verdict"] == "infected" else None)
    console.print(table)
