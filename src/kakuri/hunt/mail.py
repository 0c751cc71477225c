"""Per-sender aggregates of the mail server's log, as SQL over the stored transactions.

A sender is an account (SASL login, or envelope sender of mail from an internal client) and also the
internal host that submitted it, so a spamming PC is seen even when it rotates stolen logins.
Our domains are learnt from the log itself (mailboxes delivered locally, SASL logins).
"New" recipients follow the order of the log: an address is new to a message when no earlier
transaction (`seq`) delivered to it or came from it, and the contact graph does not know it.
Sliding windows (busiest hour, busiest day of first contacts) are window functions over time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header

import duckdb
import pyarrow as pa

from kakuri.hunt.addresses import InternalNetworks, is_ip

DAY = 86400.0
MAX_CLOCK_SAMPLES = 5_000
_REPLY = re.compile(r"^\s*(re|aw|sv|antw|r|返信)\s*[:：]", re.IGNORECASE)
_REPLY_SQL = r"(?i)^\s*(re|aw|sv|antw|r|返信)\s*[:：]"


@dataclass
class SenderStats:
    first_seen: float
    messages: int = 0
    peak_burst: int = 0
    peak_burst_start: float = 0.0  # when the busiest window began
    peak_new_messages: int = 0  # most messages with a never-before recipient within a day
    peak_new_start: float = 0.0
    new_recipients: int = 0
    replies: int = 0
    stranger_replies: int = 0  # replies sent only to people who never wrote to us anywhere in the log
    external_recipients: int = 0
    hard_bounces: int = 0
    first_external_auth: float | None = None
    auth_external_ips: set[str] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)  # internal hosts that sent as this account


@dataclass
class MailView:
    accounts: dict[str, SenderStats] = field(default_factory=dict)
    hosts: dict[str, SenderStats] = field(default_factory=dict)
    host_names: dict[str, str] = field(default_factory=dict)
    mailboxes: dict[str, float] = field(default_factory=dict)  # our mailboxes that received mail -> first time
    server_names: set[str] = field(default_factory=set)
    our_domains: set[str] = field(default_factory=set)
    transactions: int = 0
    knowledge: object | None = None

    def is_ours(self, address: str) -> bool:
        return is_ours(address.rpartition("@")[2].lower(), self.our_domains)


def is_ours(domain: str, ours: set[str]) -> bool:
    """The domain or one of its parents is ours (checked label by label: hundreds of our domains stay cheap)."""
    while domain:
        if domain in ours:
            return True
        domain = domain.partition(".")[2]
    return False


def is_reply(subject: str | None) -> bool:
    if not subject:
        return False
    if "=?" in subject:
        try:
            subject = str(make_header(decode_header(subject)))
        except (ValueError, LookupError, UnicodeDecodeError):
            pass
    return bool(_REPLY.match(subject))


def prepare(con: duckdb.DuckDBPyConnection, files: list[str], networks: InternalNetworks) -> int:
    """Load the transactions (`mtx`) and their recipients (`mrc`); classify clients and domains. Rows loaded."""
    # two projections of the same files: Parquet reads only the columns each needs, and no table carries
    # the nested recipient lists around
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mtx AS
        SELECT seq, ts, client_ip, client_name, sasl_username AS sasl, sender, subject, lower(server) AS server
        FROM read_parquet({files!r})""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mrc AS
        SELECT seq, r.address, r.status, r.dsn, r.local, r.relay, split_part(r.address, '@', -1) AS domain
        FROM (SELECT seq, unnest(recipients) AS r FROM read_parquet({files!r}))""")
    clients = [ip for (ip,) in con.execute("SELECT DISTINCT client_ip FROM mtx WHERE client_ip IS NOT NULL").fetchall()]
    con.register("_mclients", pa.table({"ip": pa.array(clients, pa.string()),
                                         "internal": [is_ip(ip) and networks.is_internal(ip) for ip in clients]}))
    ours = {d for (d,) in con.execute(
        "SELECT DISTINCT domain FROM mrc WHERE local UNION SELECT DISTINCT split_part(sasl, '@', -1) FROM mtx "
        "WHERE sasl IS NOT NULL").fetchall()}
    domains = [d for (d,) in con.execute(
        "SELECT DISTINCT domain FROM mrc UNION SELECT DISTINCT split_part(sender, '@', -1) FROM mtx").fetchall()]
    con.register("_mdomains", pa.table({"domain": pa.array(domains, pa.string()),
                                         "ours": [is_ours(d or "", ours) for d in domains]}))
    encoded = [s for (s,) in con.execute("SELECT DISTINCT subject FROM mtx WHERE contains(subject, '=?')").fetchall()]
    con.register("_mencoded", pa.table({"subject": pa.array(encoded, pa.string()),
                                         "reply": [is_reply(s) for s in encoded]}))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mtx2 AS
        SELECT t.*, coalesce(c.internal, FALSE) AS internal, coalesce(d.ours, FALSE) AS sender_ours,
               (t.sasl IS NOT NULL OR (coalesce(c.internal, FALSE) AND coalesce(t.sender, '') <> '')) AS outbound,
               coalesce(e.reply, regexp_matches(coalesce(t.subject, ''), '{_REPLY_SQL}')) AS reply
        FROM mtx t LEFT JOIN _mclients c ON c.ip = t.client_ip
        LEFT JOIN _mdomains d ON d.domain = split_part(t.sender, '@', -1)
        LEFT JOIN _mencoded e ON e.subject = t.subject""")
    return len(ours)


def clock_samples(con: duckdb.DuckDBPyConnection) -> list[tuple[str, float]]:
    return con.execute(f"SELECT client_ip, ts FROM mtx2 WHERE client_ip IS NOT NULL AND NOT internal "
                       f"ORDER BY seq LIMIT {MAX_CLOCK_SAMPLES}").fetchall()


def server_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {n for (n,) in con.execute(
        "SELECT DISTINCT server FROM mtx WHERE coalesce(server, '') <> '' "
        "UNION SELECT DISTINCT lower(relay) FROM mrc WHERE local AND coalesce(relay, '') <> ''").fetchall()}


def aggregate(con: duckdb.DuckDBPyConnection, *, offset: float, window_seconds: int, knowledge=None) -> MailView:
    """Every sender's counters, with the maillog's clock moved by `offset` seconds."""
    view = MailView(knowledge=knowledge, server_names=server_names(con))
    view.our_domains = {d for (d,) in con.execute("SELECT domain FROM _mdomains WHERE ours").fetchall()}
    view.transactions = con.execute("SELECT count(*) FROM mtx").fetchall()[0][0]
    known_to_graph = []
    if knowledge is not None:
        candidates = con.execute("""SELECT DISTINCT r.address FROM mrc r JOIN mtx2 t USING (seq)
            JOIN _mdomains d USING (domain) WHERE t.outbound AND NOT r.local AND NOT d.ours""").fetchall()
        known_to_graph = [a for (a,) in candidates if knowledge.is_known_contact(a)]
    con.register("_mgraph", pa.table({"address": pa.array(known_to_graph, pa.string())}))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mext AS  -- outside recipients of outbound mail
        SELECT r.seq, r.address, r.status, r.dsn, r.status = 'bounced' AND starts_with(r.dsn, '5') AS hard_bounce
        FROM mrc r JOIN mtx2 t USING (seq) JOIN _mdomains d USING (domain)
        WHERE t.outbound AND NOT r.local AND NOT d.ours""")
    con.execute("""CREATE OR REPLACE TEMP TABLE mknown AS  -- when each outside address first corresponded with us
        SELECT address, min(seq) AS seq FROM (
          SELECT address, seq FROM mext WHERE status = 'sent'
          UNION ALL SELECT sender, seq FROM mtx2 WHERE NOT outbound AND coalesce(sender, '') <> '' AND NOT sender_ours)
        GROUP BY address""")
    con.execute("""CREATE OR REPLACE TEMP TABLE mwrote AS
        SELECT DISTINCT sender AS address FROM mtx2 WHERE NOT outbound AND coalesce(sender, '') <> '' AND NOT sender_ours""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mmsg AS  -- one row per outbound message
        SELECT t.seq, any_value(t.ts) - {offset} AS ts, any_value(coalesce(t.sasl, t.sender)) AS account,
               any_value(t.client_ip) AS client_ip, any_value(t.internal) AS internal,
               any_value(t.sasl IS NOT NULL) AS authenticated,
               count(e.address) AS n_ext,
               count(e.address) FILTER (WHERE (k.seq IS NULL OR k.seq >= t.seq) AND g.address IS NULL) AS n_new,
               coalesce(sum(e.hard_bounce::INT), 0) AS n_bounced,
               any_value(t.reply) AND count(e.address) > 0 AS reply,
               bool_or(w.address IS NOT NULL) AS to_correspondent
        FROM mtx2 t LEFT JOIN mext e USING (seq) LEFT JOIN mknown k ON k.address = e.address
        LEFT JOIN _mgraph g ON g.address = e.address LEFT JOIN mwrote w ON w.address = e.address
        WHERE t.outbound GROUP BY t.seq""")
    rows = con.execute(f"""
        WITH s AS (
          SELECT 'account' AS kind, account AS key, * EXCLUDE (account) FROM mmsg
          UNION ALL SELECT 'host', client_ip, * EXCLUDE (account) FROM mmsg WHERE internal),
        w AS (
          SELECT *, count(*) OVER hour AS in_hour, min(ts) OVER hour AS hour_start,
                 CASE WHEN n_new > 0 THEN count(*) FILTER (WHERE n_new > 0) OVER day END AS in_day,
                 CASE WHEN n_new > 0 THEN min(ts) FILTER (WHERE n_new > 0) OVER day END AS day_start
          FROM s WINDOW hour AS (PARTITION BY kind, key ORDER BY ts RANGE BETWEEN {window_seconds} PRECEDING AND CURRENT ROW),
                        day AS (PARTITION BY kind, key ORDER BY ts RANGE BETWEEN {DAY} PRECEDING AND CURRENT ROW))
        SELECT kind, key, min(ts), count(*), max(in_hour), arg_max(hour_start, in_hour * 1e10 - ts),
               coalesce(max(in_day), 0), arg_max(day_start, in_day * 1e10 - ts), sum(n_new), sum(reply::INT),
               count(*) FILTER (WHERE reply AND n_new = n_ext AND NOT coalesce(to_correspondent, FALSE)),
               sum(n_ext), sum(n_bounced),
               min(ts) FILTER (WHERE authenticated AND NOT internal AND client_ip IS NOT NULL),
               list(DISTINCT client_ip) FILTER (WHERE authenticated AND NOT internal AND client_ip IS NOT NULL),
               list(DISTINCT client_ip) FILTER (WHERE internal)
        FROM w WHERE key IS NOT NULL GROUP BY kind, key""").fetchall()
    for (kind, key, first, messages, burst, burst_start, new_peak, new_start, new, replies, strangers, external,
         bounces, first_auth, auth_ips, clients) in rows:
        stats = SenderStats(first_seen=first, messages=messages, peak_burst=burst, peak_burst_start=burst_start,
                            peak_new_messages=new_peak, peak_new_start=new_start or 0.0, new_recipients=int(new),
                            replies=int(replies), stranger_replies=strangers, external_recipients=int(external),
                            hard_bounces=int(bounces), first_external_auth=first_auth, auth_external_ips=set(auth_ips or ()),
                            clients=set(clients or ()) if kind == "account" else set())
        (view.accounts if kind == "account" else view.hosts)[key] = stats
    view.host_names = dict(con.execute("""SELECT client_ip, arg_min(lower(client_name), seq) FROM mtx2
        WHERE internal AND client_name IS NOT NULL AND client_name <> 'unknown' GROUP BY client_ip""").fetchall())
    con.execute(f"""CREATE OR REPLACE TEMP TABLE minbound AS  -- outside senders delivered to our mailboxes
        SELECT r.address AS mailbox, t.sender, t.ts - {offset} AS ts FROM mtx2 t JOIN mrc r USING (seq)
        WHERE NOT t.outbound AND coalesce(t.sender, '') <> '' AND NOT t.sender_ours AND r.local AND r.status = 'sent'""")
    view.mailboxes = dict(con.execute("SELECT mailbox, min(ts) FROM minbound GROUP BY mailbox").fetchall())
    return view


def correspondents(con: duckdb.DuckDBPyConnection, accounts: list[str]) -> dict[str, tuple[set[str], set[str]]]:
    """account -> (outside recipients it reached, outside senders delivered to it)."""
    con.register("_maccounts", pa.table({"account": pa.array(accounts, pa.string())}))
    out: dict[str, tuple[set[str], set[str]]] = {a: (set(), set()) for a in accounts}
    for account, address in con.execute("""
            SELECT m.account, e.address FROM mmsg m JOIN mext e USING (seq) JOIN _maccounts a USING (account)
            GROUP BY ALL HAVING bool_or(NOT e.hard_bounce)""").fetchall():
        out[account][0].add(address)
    for mailbox, sender in con.execute("""SELECT DISTINCT i.mailbox, i.sender FROM minbound i
            JOIN _maccounts a ON a.account = i.mailbox""").fetchall():
        out[mailbox][1].add(sender)
    return out
