"""Threat-intel feeds: abuse.ch Feodo Tracker IP blocklist, URLhaus CSV dump, plain SHA-256 lists.

Read from a folder (layout sniffed from the header, not the file name); a URL is fetched only when the
user configures one. Feodo entries keep their status and last-online date so that a C2 address that
went offline long ago (and is now someone's web server) counts as stale, not as a hit.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from kakuri.hunt.sources import open_text

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True, slots=True)
class C2Entry:
    ip: str
    port: int
    malware: str
    status: str
    last_online: float | None  # epoch of the date, None when unknown


@dataclass
class Feeds:
    c2_by_ip: dict[str, list[C2Entry]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)  # normalised URL -> threat/tags
    url_hosts: set[str] = field(default_factory=set)
    sha256: set[str] = field(default_factory=set)

    def c2_at(self, ip: str, port: int) -> C2Entry | None:
        for entry in self.c2_by_ip.get(ip, ()):
            if entry.port == port:
                return entry
        return None

    def url_listed(self, url: str) -> bool:
        return normalise_url(url) in self.urls

    @property
    def counts(self) -> dict[str, int]:
        return {
            "c2": sum(len(v) for v in self.c2_by_ip.values()),
            "urls": len(self.urls),
            "sha256": len(self.sha256),
        }


def normalise_url(url: str) -> str:
    """Scheme-less, lower-case host, default port dropped, query dropped (Squid strips query terms)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return netloc + (parts.path or "/")


def load_feeds(folder: Path) -> Feeds:
    feeds = Feeds()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open_text(path) as stream:
            add_feed_text(feeds, stream.read())
    return feeds


def add_feed_text(feeds: Feeds, text: str) -> None:
    """Add one feed file's content, whichever of the three layouts it has."""
    header = _header(text)
    rows = (line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if "dst_ip" in header:
        for row in csv.DictReader(io.StringIO("\n".join(rows)), fieldnames=header):
            _add_c2(feeds, row)
    elif "url" in header and "url_status" in header:
        for row in csv.DictReader(io.StringIO("\n".join(rows)), fieldnames=header):
            url = (row.get("url") or "").strip()
            if "://" in url:
                feeds.urls[normalise_url(url)] = row.get("tags") or row.get("threat") or ""
                feeds.url_hosts.add((urlsplit(url).hostname or "").lower())
    else:
        for line in rows:
            token = line.split()[0].split(",")[0]
            if _SHA256.match(token):
                feeds.sha256.add(token.lower())


def _header(text: str) -> list[str]:
    """The column names: the last comment line or first data line that names known columns."""
    for line in text.splitlines()[:40]:
        stripped = line.lstrip("#").strip()
        if "dst_ip" in stripped or ("url_status" in stripped and "url" in stripped):
            return next(csv.reader([stripped]))
    return []


def _add_c2(feeds: Feeds, row: dict) -> None:
    ip = (row.get("dst_ip") or "").strip()
    if not ip or ip == "dst_ip":
        return
    try:
        port = int(row.get("dst_port") or 0)
    except ValueError:
        return
    entry = C2Entry(
        ip=ip,
        port=port,
        malware=(row.get("malware") or "").strip(),
        status=(row.get("c2_status") or "").strip().lower(),
        last_online=_date(row.get("last_online")),
    )
    feeds.c2_by_ip.setdefault(ip, []).append(entry)


def _date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip()[:10]).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def fetch_feed(url: str, *, timeout_seconds: float = 30.0) -> str:
    """Download one feed (only for URLs the user configured in `[hunt] feed_urls`); gzip is unpacked."""
    import gzip
    from urllib.request import Request, urlopen

    with urlopen(Request(url, headers={"User-Agent": "kakuri-hunt"}), timeout=timeout_seconds) as response:
        body = response.read()
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return body.decode("utf-8", errors="replace")
