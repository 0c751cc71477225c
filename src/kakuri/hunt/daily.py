"""Per-day summaries of the logs, computed once per day (at ingest) and reused by every later run.

For each UTC day the store holds, the events are reduced to what the analyses need (SQL, `DAILY`):

    pairs      host, destination: contacts, data sent, failures, denials, ports, paths
    bursts     host, destination: the start of each burst of contacts (retries merged), bytes, duration
    hosts      internal host: first and last seen, DNS queries, proxy requests
    resolved   host, address its own DNS lookups returned          mx   host, domain it asked an MX for
    names      internal address -> PTR name; name -> internal address (forward lookups)
    infra      evidence of roles: resolvers, SMTP servers, and how much of a host's outside traffic the
               proxy log accounts for (a proxy's upstream connections are the proxy log's own records)
    payloads   downloads that look like a file being dropped (executable or Office type or name)
    direct     host, outside address, port: connections and the first (feed matches read these)
    lookups    host, name it resolved: lookups and the first
    smtp_in    outside SMTP clients and when they connected (checks the maillog's clock)

The maillog's days are summarised the same way (`refresh_mail`, queries in `mail.MAIL_DAILY`, files
`daily/mail_<name>/`). A day is summarised again only when its event files change (a new or grown log),
so a daily run reads yesterday's summaries and summarises only today. Bursts are cut within a UTC day, and a run over
several days always combines day summaries: one run over two days and two runs one day apart agree.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable

import duckdb
import pyarrow as pa

from kakuri.hunt import mail
from kakuri.hunt.addresses import InternalNetworks, is_ip
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.engine import connect  # noqa: F401  (the connection every step shares)
from kakuri.hunt.store import SCHEMAS, HuntStore

SUMMARY_VERSION = 3
NETWORK_TABLES = ("web", "conn", "dns", "files")
BURST_GAP_SECONDS = 20.0  # contacts closer than this to the previous one are one burst (retries, page loads)
PAYLOAD_MIMES = (
    "application/octet-stream", "application/x-msdownload", "application/x-dosexec", "application/x-msdos-program",
    "application/msword", "application/vnd.ms-", "application/vnd.openxmlformats", "application/x-ms",
    "application/java-archive", "application/hta", "application/x-sh",
)
PAYLOAD_EXTENSIONS = (".exe", ".dll", ".scr", ".doc", ".docm", ".xls", ".xlsm", ".vbs", ".hta", ".ps1", ".msi", ".jar")
# Web page resources: a .js or .html answer is a page being rendered, not a file being dropped
PAGE_MIMES = ("text/", "application/javascript", "application/x-javascript", "application/json", "image/")
_PAYLOAD = "(({}) OR (({}) AND NOT ({})))".format(
    " OR ".join(f"starts_with(w.mime, '{m}')" for m in PAYLOAD_MIMES),
    " OR ".join(f"ends_with(lower(w.path), '{e}')" for e in PAYLOAD_EXTENSIONS),
    " OR ".join(f"starts_with(w.mime, '{m}')" for m in PAGE_MIMES))
_FAILED_STATES = "('S0','REJ','RSTOS0','RSTRH','SH','SHR','OTH')"
# the proxied URL named an address, not a host name
LITERAL_HOST = r"(regexp_full_match(w.host, '[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+') OR contains(w.host, ':'))"

# The contacts of internal hosts with the outside: proxied requests and direct connections, one shape.
CONTACTS = f"""
CREATE OR REPLACE TEMP VIEW contacts AS
SELECT w.client AS host, w.host AS dst, {LITERAL_HOST} AS literal, FALSE AS direct, w.ts, w.port,
       w.method IN ('POST', 'PUT', 'CONNECT') AS sends,
       (w.code LIKE '%DENIED%' OR (w.server_ip IS NULL AND w.status IN (0, 403, 407))) AS denied,
       (w.status >= 500 OR w.status = 0) AS failed,
       w.path, w.size AS bytes, FALSE AS excluded, 0.0 AS duration
FROM web_d w JOIN ipc ON ipc.ip = w.client AND ipc.internal
UNION ALL
SELECT c.orig, c.resp, TRUE, TRUE, c.ts, c.resp_port,
       c.state NOT IN {_FAILED_STATES} AND c.orig_bytes > 0, FALSE, c.state IN {_FAILED_STATES},
       NULL, c.orig_bytes + c.resp_bytes,
       c.proto = 'icmp' OR c.resp_port IN (53, 123) OR c.service IN ('ntp', 'dns'), c.duration
FROM conn_d c JOIN ipc o ON o.ip = c.orig AND o.internal JOIN ipc r ON r.ip = c.resp AND NOT r.internal
"""

DAILY = {
    "pairs": """
SELECT host, dst, bool_or(literal) AS literal, bool_or(direct) AS direct, count(*) AS contacts,
       sum(sends::INT) AS posts, sum((failed AND NOT denied)::INT) AS failures, sum(denied::INT) AS blocked,
       min(ts) AS first, max(ts) AS last, list_sort(list(DISTINCT port)) AS ports,
       list_slice(list_sort(list(DISTINCT path) FILTER (WHERE path <> '')), 1, 64) AS paths,
       bool_or(excluded) AS excluded
FROM contacts GROUP BY host, dst""",
    "bursts": f"""
WITH marked AS (
  SELECT host, dst, ts, bytes, duration,
         CASE WHEN ts - lag(ts) OVER w < {BURST_GAP_SECONDS} THEN 0 ELSE 1 END AS opens
  FROM contacts WHERE NOT excluded WINDOW w AS (PARTITION BY host, dst ORDER BY ts)),
numbered AS (
  SELECT *, sum(opens) OVER (PARTITION BY host, dst ORDER BY ts ROWS UNBOUNDED PRECEDING) AS burst FROM marked)
SELECT host, dst, min(ts) AS start, sum(bytes) AS bytes, count(*) AS contacts,
       max(ts + duration) - min(ts) AS duration
FROM numbered GROUP BY host, dst, burst""",
    "hosts": """
SELECT host, min(ts) AS first, max(ts) AS last, sum(dns) AS dns_queries, sum(web) AS web_requests FROM (
  SELECT client AS host, ts, 0 AS dns, 1 AS web FROM web_d
  UNION ALL SELECT host, ts, 0, 0 FROM contacts WHERE direct
  UNION ALL SELECT client, ts, 1, 0 FROM dns_d
  UNION ALL SELECT host, ts, 0, 0 FROM files_d
) e JOIN ipc ON ipc.ip = e.host AND ipc.internal GROUP BY host""",
    "resolved": """
SELECT DISTINCT d.client AS host, a.ip
FROM dns_d d JOIN ipc ON ipc.ip = d.client AND ipc.internal, unnest(d.answers) AS a(ip)
WHERE d.qtype IN ('A', 'AAAA')""",
    "mx": """
SELECT DISTINCT d.client AS host, d.query AS domain
FROM dns_d d JOIN ipc ON ipc.ip = d.client AND ipc.internal WHERE d.qtype = 'MX'""",
    "names": """
SELECT 'ptr' AS kind, p.ip, min(a.name) AS name FROM (
  SELECT array_to_string(list_reverse(string_split(replace(query, '.in-addr.arpa', ''), '.')), '.') AS ip, answers
  FROM dns_d WHERE qtype = 'PTR' AND query LIKE '%.in-addr.arpa') p
  JOIN ipc ON ipc.ip = p.ip AND ipc.internal, unnest(p.answers) AS a(name)
WHERE NOT regexp_full_match(a.name, '[0-9.]+') GROUP BY p.ip
UNION ALL
SELECT DISTINCT 'forward', a.ip, d.query
FROM dns_d d JOIN ipc c ON c.ip = d.client AND c.internal, unnest(d.answers) AS a(ip)
  JOIN ipc i ON i.ip = a.ip AND i.internal
WHERE d.qtype IN ('A', 'AAAA')""",
    "infra": f"""
WITH upstream AS (  -- when the proxy opened each upstream connection, to the second
  SELECT DISTINCT CASE WHEN {LITERAL_HOST} THEN w.host ELSE w.server_ip END AS ip,
         CAST(floor(w.ts - w.elapsed_ms / 1000.0) AS BIGINT) AS s
  FROM web_d w WHERE w.server_ip IS NOT NULL OR {LITERAL_HOST}),
keys AS (SELECT DISTINCT ip, s + k AS s FROM upstream, (VALUES (-1), (0), (1)) t(k))
SELECT 'resolver' AS role, d.server AS ip, count(DISTINCT d.client) AS n, 0 AS matched, 0 AS total
FROM dns_d d JOIN ipc s ON s.ip = d.server AND s.internal JOIN ipc c ON c.ip = d.client AND c.internal
WHERE d.server <> d.client GROUP BY d.server
UNION ALL
SELECT 'smtp_server', c.resp, count(*), 0, 0
FROM conn_d c JOIN ipc o ON o.ip = c.orig AND NOT o.internal JOIN ipc r ON r.ip = c.resp AND r.internal
WHERE c.resp_port IN (25, 465, 587) AND c.state NOT IN {_FAILED_STATES} GROUP BY c.resp
UNION ALL
SELECT 'outside_destinations', c.host, count(DISTINCT c.dst), count(k.ip), count(*)
FROM contacts c LEFT JOIN keys k ON k.ip = c.dst AND k.s = CAST(floor(c.ts) AS BIGINT)
WHERE c.direct GROUP BY c.host""",
    "payloads": f"""
SELECT w.client AS host, w.host AS dst, w.ts, w.url, w.size
FROM web_d w JOIN ipc ON ipc.ip = w.client AND ipc.internal
WHERE w.method = 'GET' AND w.status = 200 AND NOT contains(w.code, 'DENIED') AND {_PAYLOAD}""",
    "direct": f"""
SELECT c.orig AS host, c.resp AS ip, c.resp_port AS port, count(*) AS n, min(c.ts) AS first
FROM conn_d c JOIN ipc o ON o.ip = c.orig AND o.internal JOIN ipc r ON r.ip = c.resp AND NOT r.internal
GROUP BY ALL""",
    "lookups": """
SELECT d.client AS host, d.query, count(*) AS n, min(d.ts) AS first
FROM dns_d d JOIN ipc ON ipc.ip = d.client AND ipc.internal WHERE d.qtype IN ('A', 'AAAA') GROUP BY ALL""",
    "smtp_in": f"""
SELECT c.orig AS ip, c.ts
FROM conn_d c JOIN ipc o ON o.ip = c.orig AND NOT o.internal JOIN ipc r ON r.ip = c.resp AND r.internal
WHERE c.resp_port IN (25, 465, 587) AND c.state NOT IN {_FAILED_STATES}""",
}


def summary_glob(store: HuntStore, name: str, days: list[str]) -> list[str]:
    return [str(p) for day in days for p in [store.root / "daily" / name / f"day={day}.parquet"] if p.exists()]


def refresh(store: HuntStore, con: duckdb.DuckDBPyConnection, cfg: HuntConfig, days: list[str]) -> list[str]:
    """Summarise the network days whose events changed since their summary was written; the days redone."""
    networks = InternalNetworks(cfg.internal_networks)
    return _refresh(store, cfg, days, "", NETWORK_TABLES, list(DAILY),
                    lambda day: _summarise(store, con, networks, day))


def refresh_mail(store: HuntStore, con: duckdb.DuckDBPyConnection, cfg: HuntConfig, days: list[str]) -> list[str]:
    """The same for the maillog's days (`mail.MAIL_DAILY`, summaries named mail_<name>)."""
    networks = InternalNetworks(cfg.internal_networks)

    def summarise(day: str) -> None:
        files = [str(p) for p in store.day_files("mail", day)]
        for name in mail.MAIL_DAILY:
            (store.root / "daily" / f"mail_{name}").mkdir(parents=True, exist_ok=True)
        mail.summarise_day(con, files, networks,
                           lambda name: str(store.root / "daily" / f"mail_{name}" / f"day={day}.parquet"))

    return _refresh(store, cfg, days, "mail/", ("mail",), [f"mail_{n}" for n in mail.MAIL_DAILY], summarise)


def mail_days(store: HuntStore, since: str | None = None) -> list[str]:
    return [d for d in store.days("mail") if since is None or d >= since]


def _refresh(store: HuntStore, cfg: HuntConfig, days: list[str], prefix: str, tables: tuple[str, ...],
             names: list[str], summarise: Callable[[str], None]) -> list[str]:
    keys_path = store.root / "daily" / "keys.json"
    keys = json.loads(keys_path.read_text()) if keys_path.exists() else {}
    redone = []
    for day in days:
        key = _day_key(store, day, cfg, tables)
        written = all((store.root / "daily" / n / f"day={day}.parquet").exists() for n in names)
        if keys.get(prefix + day) == key and written:
            continue
        summarise(day)
        keys[prefix + day] = key
        keys_path.parent.mkdir(parents=True, exist_ok=True)
        keys_path.write_text(json.dumps(keys, indent=1, sort_keys=True))
        redone.append(day)
    return redone


def network_days(store: HuntStore, since: str | None = None) -> list[str]:
    days = sorted({d for t in NETWORK_TABLES for d in store.days(t)})
    return [d for d in days if since is None or d >= since]


def _day_key(store: HuntStore, day: str, cfg: HuntConfig, tables: tuple[str, ...]) -> str:
    files = [f"{t}/{p.name}" for t in tables for p in store.day_files(t, day)]
    material = json.dumps([SUMMARY_VERSION, BURST_GAP_SECONDS, cfg.internal_networks, files])
    return hashlib.sha256(material.encode()).hexdigest()


def _summarise(store: HuntStore, con: duckdb.DuckDBPyConnection, networks: InternalNetworks, day: str) -> None:
    for table in NETWORK_TABLES:
        files = store.day_files(table, day)
        if files:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {table}_d AS SELECT * FROM read_parquet({[str(f) for f in files]!r})")
        else:
            con.register(f"_{table}_empty", pa.table({f.name: pa.array([], f.type) for f in SCHEMAS[table]}))
            con.execute(f"CREATE OR REPLACE TEMP VIEW {table}_d AS SELECT * FROM _{table}_empty")
    addresses = con.execute("""
        SELECT DISTINCT ip FROM (
          SELECT client AS ip FROM web_d UNION ALL SELECT orig FROM conn_d UNION ALL SELECT resp FROM conn_d
          UNION ALL SELECT client FROM dns_d UNION ALL SELECT server FROM dns_d UNION ALL SELECT host FROM files_d
          UNION ALL SELECT unnest(answers) FROM dns_d WHERE qtype IN ('A', 'AAAA')
          UNION ALL SELECT array_to_string(list_reverse(string_split(replace(query, '.in-addr.arpa', ''), '.')), '.')
          FROM dns_d WHERE qtype = 'PTR')""").fetchall()
    ips = [a for (a,) in addresses if a and is_ip(a)]
    con.register("_ipc", pa.table({"ip": ips, "internal": [networks.is_internal(a) for a in ips]}))
    con.execute("CREATE OR REPLACE TEMP TABLE ipc AS SELECT * FROM _ipc")
    con.execute(CONTACTS)
    for name, query in DAILY.items():
        folder = store.root / "daily" / name
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"day={day}.parquet"
        con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
    con.unregister("_ipc")
