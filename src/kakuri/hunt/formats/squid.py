"""Squid native access.log: `time elapsed client code/status bytes method URL ident hierarchy/from type`.

`time` is epoch seconds (UTC by definition) at completion. HTTPS appears as `CONNECT host:443`.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from kakuri.hunt.events import WebRequest
from kakuri.hunt.formats import ParseStats


def parse_squid(lines: Iterable[str], stats: ParseStats, source: str) -> Iterator[WebRequest]:
    for line in lines:
        stats.lines += 1
        fields = line.split()
        if not fields or line.startswith("#"):
            continue
        try:
            yield _request(fields)
        except (ValueError, IndexError) as exc:
            stats.skip(source, line, str(exc) or type(exc).__name__)


def _request(f: list[str]) -> WebRequest:
    if len(f) < 10:
        raise ValueError("too few fields")
    code, _, status = f[3].partition("/")
    method, url = f[5], f[6]
    host, port, path = _split_url(method, url)
    hier = f[8].partition("/")[2]
    return WebRequest(
        ts=float(f[0]),
        client=f[2],
        method=method,
        url=url,
        host=host,
        port=port,
        path=path,
        status=int(status),
        code=code,
        size=int(f[4]),
        server_ip=hier if hier and hier != "-" else None,
        mime=f[9].split(";", 1)[0].lower(),
        elapsed_ms=int(f[1]),
    )


def _split_url(method: str, url: str) -> tuple[str, int, str]:
    if method == "CONNECT" or "://" not in url:
        host, _, port = url.rpartition(":")
        if not host:
            host, port = url, "443"
        return host.strip("[]").lower(), int(port), ""
    scheme, _, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):  # IPv6 literal
        host, _, port = netloc[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = netloc.partition(":")
    if not host:
        raise ValueError("URL without host")
    default = 443 if scheme.lower() == "https" else 80
    return host.lower(), int(port) if port else default, slash + path.partition("?")[0] if slash else "/"
