"""The network analyses as SQL over the day summaries and the events, for `kakuri hunt run`.

Everything proportional to the number of log lines happens in DuckDB (streaming, memory capped, spilled
to disk beyond the cap); Python receives only what can become evidence: the rare destinations of each
host that show data sent, odd ports, regular timing or a payload, and the feed matches. Rarity
(prevalence) is judged over all selected days, after the relays are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from kakuri.hunt.beaconing import STATS_SQL, BeaconStats, score_row
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.daily import DAILY, LITERAL_HOST, summary_glob
from kakuri.hunt.engine import stream
from kakuri.hunt.feeds import Feeds
from kakuri.hunt.infrastructure import InfraEvidence, find_relays
from kakuri.hunt.store import HuntStore

SMTP_PORTS = (25, 465, 587)


@dataclass(slots=True)
class Pair:
    """One host's traffic with one rare destination, over the selected days."""

    literal: bool
    direct: bool
    contacts: int
    posts: int
    failures: int
    blocked: int
    first: float
    ports: list[int]
    paths: int
    excluded: bool  # NTP/DNS/ICMP: time sync and lookups are periodic by nature
    posting: bool  # data sent to an IP literal the host never resolved (its lookups being visible)
    beacon: BeaconStats | None = None


@dataclass(slots=True)
class HitSummary:
    count: int
    first: float
    distinct: int
    examples: list[str]


@dataclass(slots=True)
class HostView:
    first_seen: float
    last_seen: float
    dns_queries: int = 0
    pairs: dict[str, Pair] = field(default_factory=dict)
    hits: dict[str, HitSummary] = field(default_factory=dict)
    payloads: list[tuple[float, str]] = field(default_factory=list)  # (ts, url)
    smtp_destinations: dict[str, float] = field(default_factory=dict)
    mx_domains: list[str] = field(default_factory=list)
    mx_count: int = 0
    rotation: BeaconStats | None = None


@dataclass
class NetworkView:
    hosts: dict[str, HostView]
    relays: dict[str, str]
    names: dict[str, str]  # internal ip -> PTR name
    forward: dict[str, str]  # internal ip -> a name that resolves to it
    smtp_inbound: dict[str, list[float]]
    window_seconds: float


def analyse_network(con: duckdb.DuckDBPyConnection, store: HuntStore, days: list[str], feeds: Feeds,
                    cfg: HuntConfig, mail_server_names: set[str]) -> NetworkView:
    for name in DAILY:
        files = summary_glob(store, name, days)
        source = f"read_parquet({files!r})" if files else f"(SELECT * FROM ({DAILY_EMPTY[name]}) WHERE FALSE)"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name}_all AS SELECT * FROM {source}")
    con.execute("""CREATE OR REPLACE TEMP TABLE host_totals AS
        SELECT host, min(first) AS first, max(last) AS last, sum(dns_queries) AS dns_queries,
               sum(web_requests) AS web_requests FROM hosts_all GROUP BY host""")
    hosts = {ip: HostView(first_seen=first, last_seen=last, dns_queries=int(dns)) for ip, first, last, dns in stream(
        con, "SELECT host, first, last, dns_queries FROM host_totals")}
    evidence = _infra_evidence(con)
    relays = find_relays(cfg, evidence, mail_server_names)
    con.register("_relays", pa.table({"ip": pa.array(list(relays), pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE relays AS SELECT * FROM _relays")
    population = sum(1 for ip in hosts if ip not in relays)
    limit = max(cfg.rare_max_hosts, int(population * cfg.rare_max_fraction))
    span = con.execute("SELECT min(first), max(last) FROM host_totals").fetchall()[0]
    window = (span[1] - span[0]) if span and span[0] is not None else 0.0

    con.execute(f"""CREATE OR REPLACE TEMP TABLE rare AS
        SELECT dst FROM pairs_all WHERE host NOT IN (SELECT ip FROM relays) GROUP BY dst
        HAVING count(DISTINCT host) <= {limit}""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE rare_pairs AS
        SELECT p.host, p.dst, bool_or(literal) AS literal, bool_or(direct) AS direct, sum(contacts) AS contacts,
               sum(posts) AS posts, sum(failures) AS failures, sum(blocked) AS blocked, min(first) AS first,
               list_sort(list_distinct(flatten(list(ports)))) AS ports,
               len(list_distinct(flatten(list(paths)))) AS paths, bool_or(excluded) AS excluded
        FROM pairs_all p JOIN rare USING (dst) WHERE p.host NOT IN (SELECT ip FROM relays) GROUP BY p.host, p.dst""")
    con.execute("""CREATE OR REPLACE TEMP TABLE candidates AS
        SELECT r.*, (r.literal AND r.posts > 0 AND NOT r.excluded AND s.ip IS NULL
                     AND (h.dns_queries > 0 OR NOT r.direct)) AS posting
        FROM rare_pairs r JOIN host_totals h USING (host)
        LEFT JOIN (SELECT DISTINCT host, ip FROM resolved_all WHERE ip IN (SELECT dst FROM rare)) s
          ON s.host = r.host AND s.ip = r.dst""")
    _load_pairs(con, hosts, cfg)
    _load_beacons(con, hosts, cfg, window)
    _load_hits(con, store, days, feeds, cfg, hosts)
    _load_payloads(con, cfg, hosts)
    for host, count, examples in con.execute(
            "SELECT host, count(DISTINCT domain), list_slice(list_sort(list(DISTINCT domain)), 1, 5) FROM mx_all "
            "WHERE host NOT IN (SELECT ip FROM relays) GROUP BY host").fetchall():
        if host in hosts:
            hosts[host].mx_count, hosts[host].mx_domains = count, examples
    names, forward = {}, {}
    for kind, ip, name in stream(con, "SELECT kind, ip, min(name) FROM names_all GROUP BY kind, ip"):
        (names if kind == "ptr" else forward)[ip] = name
    inbound = dict(con.execute("SELECT ip, list_slice(list_sort(list(ts)), 1, 50) FROM smtp_in_all GROUP BY ip").fetchall())
    # what the network analysis built is not needed again: its memory goes to the mail analysis that follows
    for table in ("web_hits", "busy", "cand_bursts", "candidates", "rare_pairs", "rare", "relays", "host_totals"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return NetworkView(hosts=hosts, relays=relays, names=names, forward=forward, smtp_inbound=inbound,
                       window_seconds=window)


# A summary with no day yet: the query's columns, no rows (an empty store still answers).
DAILY_EMPTY = {
    "pairs": "SELECT ''::VARCHAR AS host, ''::VARCHAR AS dst, FALSE AS literal, FALSE AS direct, 0 AS contacts, "
             "0 AS posts, 0 AS failures, 0 AS blocked, 0.0 AS first, 0.0 AS last, []::INT[] AS ports, "
             "[]::VARCHAR[] AS paths, FALSE AS excluded",
    "bursts": "SELECT ''::VARCHAR AS host, ''::VARCHAR AS dst, 0.0 AS start, 0 AS bytes, 0 AS contacts, 0.0 AS duration",
    "hosts": "SELECT ''::VARCHAR AS host, 0.0 AS first, 0.0 AS last, 0 AS dns_queries, 0 AS web_requests",
    "resolved": "SELECT ''::VARCHAR AS host, ''::VARCHAR AS ip",
    "mx": "SELECT ''::VARCHAR AS host, ''::VARCHAR AS domain",
    "names": "SELECT ''::VARCHAR AS kind, ''::VARCHAR AS ip, ''::VARCHAR AS name",
    "infra": "SELECT ''::VARCHAR AS role, ''::VARCHAR AS ip, 0 AS n, 0 AS matched, 0 AS total",
    "payloads": "SELECT ''::VARCHAR AS host, ''::VARCHAR AS dst, 0.0 AS ts, ''::VARCHAR AS url, 0 AS size",
    "direct": "SELECT ''::VARCHAR AS host, ''::VARCHAR AS ip, 0 AS port, 0 AS n, 0.0 AS first",
    "lookups": "SELECT ''::VARCHAR AS host, ''::VARCHAR AS query, 0 AS n, 0.0 AS first",
    "smtp_in": "SELECT ''::VARCHAR AS ip, 0.0 AS ts",
}


def _infra_evidence(con: duckdb.DuckDBPyConnection) -> InfraEvidence:
    evidence = InfraEvidence()
    # distinct clients or destinations summed over days overstate them; the busiest day is the fair measure
    for role, ip, n, most, matched, total in stream(
            con, "SELECT role, ip, sum(n), max(n), sum(matched), sum(total) FROM infra_all GROUP BY role, ip"):
        if role == "resolver":
            evidence.resolvers[ip] = int(most)
        elif role == "smtp_server":
            evidence.smtp_servers[ip] = int(n)
        else:
            evidence.outside[ip] = (int(most), int(matched), int(total))
    evidence.proxy_requests = dict(con.execute(
        "SELECT host, web_requests FROM host_totals WHERE web_requests > 0").fetchall())
    for ip, name in con.execute("SELECT DISTINCT ip, name FROM names_all WHERE kind = 'forward'").fetchall():
        evidence.forward_names.setdefault(name, set()).add(ip)
    return evidence


def _load_pairs(con: duckdb.DuckDBPyConnection, hosts: dict[str, HostView], cfg: HuntConfig) -> None:
    """Only the rare pairs that can become evidence cross into Python: data sent, odd ports, SMTP."""
    rows = con.execute("""
        SELECT host, dst, literal, direct, contacts, posts, failures, blocked, first, ports, paths, excluded, posting
        FROM candidates
        WHERE posting OR NOT list_has_all([80, 443], ports) OR list_has_any([25, 465, 587], ports)""").fetchall()
    for host, dst, literal, direct, contacts, posts, failures, blocked, first, ports, paths, excluded, posting in rows:
        view = hosts.get(host)
        if view is None:
            continue
        view.pairs[dst] = Pair(literal, direct, contacts, posts, failures, blocked, first, ports, paths, excluded, posting)
        if direct and set(ports) & set(SMTP_PORTS):
            view.smtp_destinations[dst] = first


def _load_beacons(con: duckdb.DuckDBPyConnection, hosts: dict[str, HostView], cfg: HuntConfig, window: float) -> None:
    # only pairs with enough bursts reach the window functions (their sorts are the expensive part);
    # bursts merged again across midnight are never more, so nothing that could qualify is dropped
    # the day summaries' bursts are read once: those of the rare pairs that could be a beacon or a C2 list
    con.execute("""CREATE OR REPLACE TEMP TABLE cand_bursts AS
        SELECT b.host, b.dst, b.start, b.bytes, c.posting,
               NOT c.excluded AND c.blocked < c.contacts AS timed
        FROM bursts_all b JOIN candidates c ON c.host = b.host AND c.dst = b.dst
        WHERE (NOT c.excluded AND c.blocked < c.contacts) OR c.posting""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE busy AS
        SELECT host, dst FROM cand_bursts WHERE timed GROUP BY host, dst HAVING count(*) >= {cfg.beacon_min_events}""")
    pair_rows = """SELECT b.host || '|' || b.dst AS grp, b.start AS ts, b.bytes
        FROM cand_bursts b JOIN busy c ON c.host = b.host AND c.dst = b.dst"""
    for row in con.execute(STATS_SQL.format(rows=pair_rows, min_events=cfg.beacon_min_events)).fetchall():
        grp, stats = score_row(row, window)
        host, _, dst = grp.partition("|")
        if stats is None or host not in hosts:
            continue
        pair = hosts[host].pairs.get(dst)
        if pair is None:  # a regular pair with nothing else to show still needs its numbers
            pair = hosts[host].pairs[dst] = _pair_of(con, host, dst)
        pair.beacon = stats
    rotation_rows = f"""SELECT b.host AS grp, b.start AS ts, b.bytes FROM cand_bursts b
        WHERE b.posting AND b.host IN (SELECT host FROM candidates WHERE posting GROUP BY host
                                       HAVING count(*) >= {cfg.rotation_min_destinations})"""
    for row in con.execute(STATS_SQL.format(rows=rotation_rows, min_events=cfg.beacon_min_events)).fetchall():
        host, stats = score_row(row, window)
        if host in hosts:
            hosts[host].rotation = stats


def _pair_of(con: duckdb.DuckDBPyConnection, host: str, dst: str) -> Pair:
    row = con.execute("""SELECT literal, direct, contacts, posts, failures, blocked, first, ports, paths, excluded,
                                posting FROM candidates WHERE host = ? AND dst = ?""", [host, dst]).fetchall()[0]
    return Pair(*row)


def _events(store: HuntStore, table: str, days: list[str]) -> str:
    files = [str(p) for day in days for p in store.day_files(table, day)]
    if not files:
        return "(SELECT NULL WHERE FALSE)"
    return f"read_parquet({files!r})"


def _load_hits(con, store: HuntStore, days: list[str], feeds: Feeds, cfg: HuntConfig, hosts: dict[str, HostView]) -> None:
    """Feed matches. Feeds change between runs, so they are joined at run time: with the proxy log's events (a
    semi-join on host and upstream address first), and with the day summaries of direct connections and
    lookups (staleness of a Feodo entry is judged at a pair's first contact of the day)."""
    c2 = [(e.ip, e.port, e.status, e.last_online) for entries in feeds.c2_by_ip.values() for e in entries]
    con.register("_feed_c2", pa.table({
        "ip": pa.array([c[0] for c in c2], pa.string()), "port": pa.array([c[1] for c in c2], pa.int32()),
        "status": pa.array([c[2] for c in c2], pa.string()), "last_online": pa.array([c[3] for c in c2], pa.float64())}))
    con.register("_feed_urls", pa.table({"url": pa.array(sorted(feeds.urls), pa.string())}))
    con.register("_feed_hosts", pa.table({"host": pa.array(sorted(feeds.url_hosts), pa.string())}))
    con.register("_feed_sha", pa.table({"sha256": pa.array(sorted(feeds.sha256), pa.string())}))
    stale = cfg.feed_stale_days * 86400
    is_stale = f"(status <> 'online' AND last_online IS NOT NULL AND {{ts}} - last_online > {stale})"
    parts = []
    if store.has_table("web"):
        # one pass over the proxy log keeps the rows whose host or upstream address a feed names (equality
        # only, no per-row string work); the URL forms and the kinds of match are worked out on those few
        con.execute(f"""CREATE OR REPLACE TEMP TABLE web_hits AS
            WITH web_named AS (
            SELECT client, ts, url, method, host, port, path, server_ip, code, status
            FROM {_events(store, 'web', days)}
            WHERE host IN (SELECT host FROM _feed_hosts UNION ALL SELECT ip FROM _feed_c2)
               OR server_ip IN (SELECT ip FROM _feed_c2))
            SELECT w.client, w.ts, w.url, w.method, f.ip AS c2_ip, f.port AS c2_port, f.status, f.last_online,
                   u.url IS NOT NULL AS url_listed, h.host IS NOT NULL AS host_listed,
                   (contains(w.code, 'DENIED') OR (w.server_ip IS NULL AND w.status IN (0, 403, 407))) AS denied
            FROM web_named w
            LEFT JOIN _feed_c2 f ON f.ip = (CASE WHEN {LITERAL_HOST} THEN w.host ELSE w.server_ip END) AND f.port = w.port
            LEFT JOIN _feed_urls u
              ON u.url = w.host || CASE WHEN w.port IN (80, 443) THEN '' ELSE ':' || w.port END || w.path
            LEFT JOIN _feed_hosts h ON h.host = w.host
            WHERE f.ip IS NOT NULL OR u.url IS NOT NULL OR h.host IS NOT NULL""")
        parts += [
            f"""SELECT client, CASE WHEN {is_stale.format(ts='ts')} THEN 'c2_stale' ELSE 'c2' END, ts,
                       c2_ip || ':' || c2_port, 1 FROM web_hits f WHERE c2_ip IS NOT NULL""",
            """SELECT client, CASE WHEN denied THEN 'url_blocked' ELSE 'url' END, ts, url, 1 FROM web_hits
               WHERE url_listed AND method <> 'CONNECT'""",
            """SELECT client, 'url_host', ts, url, 1 FROM web_hits
               WHERE host_listed AND NOT denied AND (method = 'CONNECT' OR NOT url_listed)""",
        ]
    # direct connections and lookups come from the day summaries: one row per host and address or name
    parts.append(f"""SELECT c.host, CASE WHEN {is_stale.format(ts='c.first')} THEN 'c2_stale' ELSE 'c2' END, c.first,
                            f.ip || ':' || f.port, c.n
                     FROM direct_all c JOIN _feed_c2 f ON f.ip = c.ip AND f.port = c.port""")
    parts.append("""SELECT d.host, 'dns_url_host', d.first, d.query, d.n FROM lookups_all d
                    JOIN _feed_hosts h ON h.host = d.query""")
    if store.has_table("files"):
        parts.append(f"""SELECT f.host, 'hash', f.ts, f.sha256, 1 FROM {_events(store, 'files', days)} f
                         JOIN _feed_sha s ON s.sha256 = f.sha256""")
    union = " UNION ALL ".join(parts)
    rows = con.execute(f"""SELECT host, kind, sum(n), min(ts), count(DISTINCT detail),
                                  list_slice(list_sort(list(DISTINCT detail)), 1, 5)
                           FROM ({union}) AS h(host, kind, ts, detail, n) GROUP BY host, kind""").fetchall()
    for host, kind, count, first, distinct, examples in rows:
        if host in hosts:
            hosts[host].hits[kind] = HitSummary(int(count), first, distinct, examples)


def _load_payloads(con, cfg: HuntConfig, hosts: dict[str, HostView]) -> None:
    """One-off downloads of a real file (not a version check) from a rare host."""
    rows = con.execute(f"""
        SELECT p.host, p.ts, p.url FROM payloads_all p JOIN rare_pairs r ON r.host = p.host AND r.dst = p.dst
        WHERE p.size >= {cfg.payload_min_bytes} AND r.contacts <= {cfg.payload_max_contacts}
        ORDER BY p.ts""").fetchall()
    for host, ts, url in rows:
        if host in hosts:
            hosts[host].payloads.append((ts, url))
