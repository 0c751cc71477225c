"""Per-host aggregates of proxy, connection and DNS records, bounded in memory.

What is kept per (host, destination): counts, POSTs, failures, a capped set of paths and a thinned
list of timestamps for the beacon test. What is kept per destination: the set of hosts that talk to
it (prevalence). Relays (proxy, resolvers, mail server) are recognised from their traffic, because
their upstream traffic belongs to their clients and must not make them suspects.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from kakuri.hunt.addresses import InternalNetworks, ip_from_ptr, is_ip
from kakuri.hunt.events import Connection, DnsAnswer, FileSeen, WebRequest
from kakuri.hunt.feeds import Feeds

SMTP_PORTS = frozenset({25, 465, 587})
# Requests that carry the client's data out (a TLS tunnel to a bare address counts: TrickBot/QakBot-style C2)
SENDING_METHODS = frozenset({"POST", "PUT", "CONNECT"})
MAX_PATHS = 64
MAX_HITS_PER_KIND = 50  # kept as evidence per host and kind; beyond that only counted
MAX_SET = 20_000
PAYLOAD_MIMES = (
    "application/octet-stream", "application/x-msdownload", "application/x-dosexec", "application/x-msdos-program",
    "application/msword", "application/vnd.ms-", "application/vnd.openxmlformats", "application/x-ms",
    "application/java-archive", "application/hta", "application/x-sh",
)
PAYLOAD_EXTENSIONS = (".exe", ".dll", ".scr", ".doc", ".docm", ".xls", ".xlsm", ".vbs", ".hta", ".ps1", ".msi", ".jar")
# Web page resources: a .js or .html answer is a page being rendered, not a file being dropped
PAGE_MIMES = ("text/", "application/javascript", "application/x-javascript", "application/json", "image/")


@dataclass
class PairStats:
    """One host's traffic to one destination (a host name, or an address when none is known)."""

    literal: bool
    count: int = 0
    posts: int = 0
    failures: int = 0
    blocked: int = 0
    first: float = 0.0
    ports: set[int] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    times: array = field(default_factory=lambda: array("d"))
    timing_excluded: bool = False  # NTP/DNS/ICMP: time sync and lookups are periodic by nature
    direct: bool = False  # seen in conn.log: no name is known, whether one was looked up depends on DNS visibility


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str  # c2 | c2_stale | url | url_blocked | url_host | dns_url_host | hash | payload
    ts: float
    detail: dict[str, str]


@dataclass
class HostTraffic:
    first_seen: float
    last_seen: float
    pairs: dict[str, PairStats] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    hit_counts: dict[str, int] = field(default_factory=dict)
    resolved_ips: set[str] = field(default_factory=set)
    dns_queries: int = 0
    mx_domains: set[str] = field(default_factory=set)
    smtp_destinations: dict[str, float] = field(default_factory=dict)  # external SMTP server -> first contact


class NetworkAggregate:
    def __init__(self, networks: InternalNetworks, feeds: Feeds, *, max_timestamps: int, stale_days: float):
        self.internal = networks.is_internal
        self.feeds = feeds
        self.max_timestamps = max_timestamps
        self.stale_seconds = stale_days * 86400
        self.hosts: dict[str, HostTraffic] = {}
        self.prevalence: dict[str, set[str]] = {}
        self.names: dict[str, str] = {}  # internal IP -> host name (PTR answers)
        self.internal_addresses: dict[str, set[str]] = {}  # name -> internal IPs it resolves to
        self.resolvers: set[str] = set()
        self.smtp_servers: set[str] = set()  # internal hosts receiving SMTP from outside
        self.proxy_upstreams: set[str] = set()  # addresses the proxy log says it contacted
        self.conn_destinations: dict[str, set[str]] = {}  # internal conn origin -> external addresses
        self.smtp_inbound: dict[str, list[float]] = {}  # outside SMTP client -> session starts (clock check)

    # --- ingest -----------------------------------------------------------------------------
    def add_web(self, r: WebRequest) -> None:
        if not self.internal(r.client):
            return
        host = self._host(r.client, r.ts)
        literal = is_ip(r.host)
        denied = "DENIED" in r.code or (r.server_ip is None and r.status in (0, 403, 407))
        server_ip = r.host if literal else r.server_ip
        if server_ip and not denied and len(self.proxy_upstreams) < MAX_SET * 10:
            self.proxy_upstreams.add(server_ip)
        pair = self._pair(host, r.client, r.host, literal, r.ts)
        pair.ports.add(r.port)
        if server_ip and len(pair.ips) < 16:
            pair.ips.add(server_ip)
        if denied:
            pair.blocked += 1
        elif r.status >= 500 or r.status == 0:
            pair.failures += 1
        if r.method in SENDING_METHODS:
            pair.posts += 1
        if len(pair.paths) < MAX_PATHS and r.path:
            pair.paths.add(r.path)
        self._feed_checks_web(host, r, server_ip, denied)
        if not denied and r.method == "GET" and r.status == 200 and _looks_like_payload(r):
            self._hit(host, Hit("payload", r.ts, {"url": r.url, "dst": r.host, "mime": r.mime, "bytes": str(r.size)}))

    def add_connection(self, c: Connection) -> None:
        orig_in, resp_in = self.internal(c.orig), self.internal(c.resp)
        if not orig_in and resp_in and c.resp_port in SMTP_PORTS and c.established:
            self.smtp_servers.add(c.resp)
            starts = self.smtp_inbound.setdefault(c.orig, []) if len(self.smtp_inbound) < MAX_SET else None
            if starts is not None and len(starts) < 50:
                starts.append(c.ts)
        if not orig_in or resp_in:
            return
        host = self._host(c.orig, c.ts)
        dests = self.conn_destinations.setdefault(c.orig, set())
        if len(dests) < MAX_SET:
            dests.add(c.resp)
        pair = self._pair(host, c.orig, c.resp, True, c.ts)
        pair.direct = True
        pair.ports.add(c.resp_port)
        pair.timing_excluded = c.proto == "icmp" or c.resp_port in (53, 123) or c.service in ("ntp", "dns")
        if not c.established:
            pair.failures += 1
        elif c.orig_bytes > 0:
            pair.posts += 1  # a direct connection that sent data: the conn.log view of a POST
        if c.resp_port in SMTP_PORTS and c.resp not in host.smtp_destinations:
            host.smtp_destinations[c.resp] = c.ts
        entry = self.feeds.c2_at(c.resp, c.resp_port)
        if entry:
            self._c2_hit(host, entry, c.ts, {"dst": f"{c.resp}:{c.resp_port}", "established": str(c.established)})

    def add_dns(self, d: DnsAnswer) -> None:
        if self.internal(d.server) and d.server != d.client and self.internal(d.client):
            self.resolvers.add(d.server)
        ptr_ip = ip_from_ptr(d.query) if d.qtype == "PTR" else None
        if ptr_ip and self.internal(ptr_ip):
            names = [a for a in d.answers if not is_ip(a)]
            if names:
                self.names[ptr_ip] = names[0]
        if not self.internal(d.client):
            return
        host = self._host(d.client, d.ts)
        host.dns_queries += 1
        if d.qtype in ("A", "AAAA"):
            if len(host.resolved_ips) < MAX_SET:
                host.resolved_ips.update(a for a in d.answers if is_ip(a))
            inside = [a for a in d.answers if is_ip(a) and self.internal(a)]
            if inside and len(self.internal_addresses) < MAX_SET:
                self.internal_addresses.setdefault(d.query, set()).update(inside)
            if d.query in self.feeds.url_hosts:
                self._hit(host, Hit("dns_url_host", d.ts, {"query": d.query}))
        elif d.qtype == "MX" and len(host.mx_domains) < MAX_SET:
            host.mx_domains.add(d.query)

    def add_file(self, f: FileSeen) -> None:
        if not self.internal(f.host):
            return
        host = self._host(f.host, f.ts)
        if f.sha256 in self.feeds.sha256:
            self._hit(host, Hit("hash", f.ts, {"sha256": f.sha256, "from": f.source}))

    def add_name(self, ip: str, name: str) -> None:
        """A host name learnt elsewhere (maillog `client=name[ip]`)."""
        if self.internal(ip) and name:
            self.names.setdefault(ip, name)

    # --- helpers ----------------------------------------------------------------------------
    def _host(self, ip: str, ts: float) -> HostTraffic:
        host = self.hosts.get(ip)
        if host is None:
            host = self.hosts[ip] = HostTraffic(first_seen=ts, last_seen=ts)
        elif ts < host.first_seen:
            host.first_seen = ts
        elif ts > host.last_seen:
            host.last_seen = ts
        return host

    def _pair(self, host: HostTraffic, ip: str, dst: str, literal: bool, ts: float) -> PairStats:
        pair = host.pairs.get(dst)
        if pair is None:
            pair = host.pairs[dst] = PairStats(literal=literal, first=ts)
            self.prevalence.setdefault(dst, set()).add(ip)
        pair.count += 1
        pair.first = min(pair.first, ts)
        if len(pair.times) >= self.max_timestamps:
            pair.times = pair.times[::2]  # thin evenly: the period survives, memory stays bounded
        pair.times.append(ts)
        return pair

    def _hit(self, host: HostTraffic, hit: Hit) -> None:
        count = host.hit_counts.get(hit.kind, 0) + 1
        host.hit_counts[hit.kind] = count
        if count <= MAX_HITS_PER_KIND:
            host.hits.append(hit)

    def _c2_hit(self, host: HostTraffic, entry, ts: float, detail: dict[str, str]) -> None:
        stale = entry.status != "online" and entry.last_online is not None and ts - entry.last_online > self.stale_seconds
        detail = {**detail, "malware": entry.malware, "feed_status": entry.status}
        self._hit(host, Hit("c2_stale" if stale else "c2", ts, detail))

    def _feed_checks_web(self, host: HostTraffic, r: WebRequest, server_ip: str | None, denied: bool) -> None:
        if server_ip:  # a denied C2 call still means the malware runs (unlike a denied click on a link)
            entry = self.feeds.c2_at(server_ip, r.port)
            if entry:
                self._c2_hit(host, entry, r.ts, {"dst": f"{server_ip}:{r.port}", "url": r.url, "status": str(r.status),
                                                 "denied": str(denied)})
        if r.method == "CONNECT":  # HTTPS: only the host name is visible
            if r.host in self.feeds.url_hosts and not denied:
                self._hit(host, Hit("url_host", r.ts, {"url": r.url, "status": str(r.status)}))
            return
        detail = {"url": r.url, "status": str(r.status)}
        if self.feeds.url_listed(r.url):
            self._hit(host, Hit("url_blocked" if denied else "url", r.ts, detail))
        elif r.host in self.feeds.url_hosts and not denied:
            self._hit(host, Hit("url_host", r.ts, detail))


def _looks_like_payload(r: WebRequest) -> bool:
    if r.mime.startswith(PAYLOAD_MIMES):
        return True
    return r.path.lower().endswith(PAYLOAD_EXTENSIONS) and not r.mime.startswith(PAGE_MIMES)
