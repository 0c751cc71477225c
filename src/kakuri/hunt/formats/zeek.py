"""Zeek conn.log, dns.log and files.log, as TSV (with `#fields` headers) or as JSON lines.

Columns are looked up by name from the header, so field order and extra fields do not matter.
Zeek timestamps are epoch seconds (UTC).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable, Iterator

from kakuri.hunt.events import Connection, DnsAnswer, FileSeen
from kakuri.hunt.formats import ParseStats

Event = Connection | DnsAnswer | FileSeen


def parse_zeek(lines: Iterable[str], stats: ParseStats, source: str) -> Iterator[Event]:
    fields: list[str] = []
    wanted: list[tuple[str, int]] = []  # (name, column) of the fields we use: no dict per line
    fast = None  # conn.log is the biggest log: rows become Connections without an intermediate dict
    path = ""
    sep = "\t"
    for line in lines:
        stats.lines += 1
        line = line.rstrip("\r\n")
        if not line:
            continue
        if line.startswith("#"):
            key, _, value = line.partition(sep if not line.startswith("#separator") else " ")
            if key == "#fields":
                fields = value.split(sep)
                wanted = [(name, i) for i, name in enumerate(fields) if name in _USED]
                fast = _conn_builder(fields) if (path or _kind_of(dict.fromkeys(fields))) == "conn" else None
            elif key == "#path":
                path = value.strip()
            elif key == "#separator":
                sep = value.strip().encode().decode("unicode_escape") or "\t"
            continue
        try:
            if line.startswith("{"):
                record = json.loads(line)
                event = _event(path or _kind_of(record), record)
            else:
                values = line.split(sep)
                if len(values) != len(fields):
                    raise ValueError(f"{len(values)} fields, header has {len(fields)}")
                if fast is not None:
                    event = fast(values)
                else:
                    record = {name: values[i] for name, i in wanted}
                    event = _event(path or _kind_of(record), record)
        except (ValueError, KeyError, TypeError) as exc:
            stats.skip(source, line, str(exc) or type(exc).__name__)
            continue
        if event is not None:
            yield event


_USED = frozenset(
    "ts id.orig_h id.resp_h id.resp_p proto service conn_state orig_bytes resp_bytes query qtype_name answers "
    "sha256 rx_hosts tx_hosts duration".split()
)


def _conn_builder(fields: list[str]):
    try:
        ts, orig, resp, port, proto, service, state, ob, rb = (fields.index(name) for name in (
            "ts", "id.orig_h", "id.resp_h", "id.resp_p", "proto", "service", "conn_state", "orig_bytes", "resp_bytes"))
    except ValueError:
        return None
    dur = fields.index("duration") if "duration" in fields else None

    def build(v: list[str]) -> Connection:
        return Connection(
            ts=float(v[ts]), orig=v[orig], resp=v[resp], resp_port=int(v[port]), proto=v[proto],
            service="" if v[service] == "-" else v[service], state=v[state],
            orig_bytes=int(v[ob]) if v[ob].isdigit() else 0, resp_bytes=int(v[rb]) if v[rb].isdigit() else 0,
            duration=_float(v[dur]) if dur is not None else 0.0,
        )

    return build


def _kind_of(record: dict) -> str:
    if "query" in record:
        return "dns"
    if "sha256" in record:
        return "files"
    if "conn_state" in record or "service" in record:
        return "conn"
    return ""


def _event(kind: str, r: dict) -> Event | None:
    if kind == "conn":
        return Connection(
            ts=_ts(r["ts"]),
            orig=r["id.orig_h"],
            resp=r["id.resp_h"],
            resp_port=int(r["id.resp_p"]),
            proto=r.get("proto", "") or "",
            service=_value(r.get("service")),
            state=_value(r.get("conn_state")),
            orig_bytes=_int(r.get("orig_bytes")),
            resp_bytes=_int(r.get("resp_bytes")),
            duration=_float(r.get("duration")),
        )
    if kind == "dns":
        answers = r.get("answers")
        if isinstance(answers, str):
            answers = [] if answers in ("-", "(empty)") else answers.split(",")
        return DnsAnswer(
            ts=_ts(r["ts"]),
            client=r["id.orig_h"],
            server=r["id.resp_h"],
            query=_value(r.get("query")).lower().rstrip("."),
            qtype=_value(r.get("qtype_name")),
            answers=tuple(a.lower().rstrip(".") for a in (answers or ())),
        )
    if kind == "files":
        digest = _value(r.get("sha256")).lower()
        hosts = r.get("rx_hosts") or r.get("id.orig_h") or ""
        host = hosts[0] if isinstance(hosts, list) else str(hosts).split(",")[0]
        if not digest or not host or host == "-":
            return None
        return FileSeen(ts=_ts(r["ts"]), host=host, sha256=digest, source=_value(r.get("tx_hosts")))
    return None


def _ts(v) -> float:
    """Epoch seconds, or ISO 8601 (Zeek JSON with json_timestamps=TS_ISO8601)."""
    try:
        return float(v)
    except ValueError:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()


def _value(v) -> str:
    if v is None or v == "-" or v == "(empty)":
        return ""
    return ",".join(v) if isinstance(v, list) else str(v)


def _int(v) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0
