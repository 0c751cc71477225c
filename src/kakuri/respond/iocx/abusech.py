"""abuse.ch feed formats: URLhaus, MalwareBazaar, Feodo Tracker and ThreatFox CSV exports, and their plain lists.

The CSV exports start with `#` comment lines, the last of which names the columns; the columns we
know (`url`, `sha256_hash`, `md5_hash`, `sha1_hash`, `dst_ip`/`ip_address`, ThreatFox's
`ioc_value` with `ioc_type`) give the indicators. Files without such a header are plain lists (one
URL, hash, IP address or domain per line), recognised value by value. (hunt/feeds.py reads Feodo and
URLhaus for the log hunt with C2 status and dates; here every listed value is an indicator.)
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re

from kakuri.respond.iocx import Ioc, clean

_COLUMNS = {"url": "url", "sha256_hash": "sha256", "md5_hash": "md5", "sha1_hash": "sha1",
            "dst_ip": "ip", "ip_address": "ip"}
_THREATFOX = {"url": "url", "domain": "domain", "ip:port": "ip", "sha256_hash": "sha256", "md5_hash": "md5",
              "sha1_hash": "sha1"}
_HEX = {64: "sha256", 40: "sha1", 32: "md5"}
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$", re.I)


def read_abusech(text: str, *, source: str = "abuse.ch") -> list[Ioc]:
    lines = text.splitlines()
    header = _header(lines)
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    if header:
        return clean(_from_rows(csv.reader(body, skipinitialspace=True), header, source))
    return clean(Ioc(kind, value, source) for kind, value in map(classify, body) if kind)


def _header(lines: list[str]) -> list[str]:
    last = ""
    for line in lines:
        if not line.startswith("#"):
            break
        if "," in line:
            last = line
    if not last:
        return []
    names = next(csv.reader(io.StringIO(last.lstrip("# ")), skipinitialspace=True))
    names = [n.strip().strip('"').lower() for n in names]
    return names if set(names) & (set(_COLUMNS) | {"ioc_value"}) else []


def _from_rows(rows, header: list[str], source: str):
    for row in rows:
        record = dict(zip(header, (c.strip() for c in row)))
        if "ioc_value" in record:  # ThreatFox: the type is in its own column
            kind = _THREATFOX.get(record.get("ioc_type", ""))
            value = record["ioc_value"]
            if kind == "ip":
                value = value.rsplit(":", 1)[0]
            if kind and value:
                yield Ioc(kind, value, f"{source} {record.get('malware_printable', '')}".strip())
            continue
        for column, kind in _COLUMNS.items():
            if record.get(column) and record[column] not in ("n/a", ""):
                note = record.get("signature") or record.get("malware") or record.get("threat") or ""
                yield Ioc(kind, record[column], f"{source} {note}".strip())


def classify(line: str) -> tuple[str, str]:
    value = line.strip().split()[0] if line.strip() else ""
    if "://" in value:
        return "url", value
    if len(value) in _HEX and all(c in "0123456789abcdefABCDEF" for c in value):
        return _HEX[len(value)], value
    try:
        ipaddress.ip_address(value)
        return "ip", value
    except ValueError:
        pass
    return ("domain", value) if _DOMAIN.match(value) else ("", value)
