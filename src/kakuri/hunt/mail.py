"""Per-sender aggregates of the mail server's log, as SQL over per-day summaries of the stored transactions.

Each day of the maillog is reduced once (`MAIL_DAILY`, written by `daily.refresh_mail`) to compact rows:
outbound messages, their outside recipients, who wrote to us first when, our mailboxes' senders, our
domains' evidence. A run reads those rows for the selected days and decides in SQL what depends on all
of them: which domains are ours, which recipients are new, the clock correction, the sliding windows
and the population baselines.

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
from typing import Callable

import duckdb
import pyarrow as pa

from kakuri.hunt.addresses import InternalNetworks, is_ip
from kakuri.hunt.engine import stream

DAY = 86400.0
MAX_CLOCK_SAMPLES = 5_000
_REPLY = re.compile(r"^\s*(re|aw|sv|antw|r|返信)\s*[:：]", re.IGNORECASE)
_REPLY_SQL = r"(?i)^\s*(re|aw|sv|antw|r|返信)\s*[:：]"


@dataclass(slots=True)
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
    auth_external_ips: frozenset[str] = frozenset()
    clients: frozenset[str] = frozenset()  # internal hosts that sent as this account


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


# Per-day summaries of the mail log (`refresh_mail` writes them once per day; every later run reads them).
# They depend on nothing learnt from other days: which domains are ours, who first corresponded when and the
# clock correction are decided at run time over the summaries of all selected days.
MAIL_DAILY = {
    "out": """  -- outbound messages: sent by a login, or by an internal client with an envelope sender
SELECT seq, ts, coalesce(sasl, sender) AS account, client_ip, internal, sasl IS NOT NULL AS authenticated, reply
FROM mtx_d WHERE outbound""",
    "rcpt": """  -- their recipients not delivered here (ours or not is decided at run time)
SELECT seq, r.address, split_part(r.address, '@', -1) AS domain, r.status,
       r.status = 'bounced' AND starts_with(r.dsn, '5') AS hard_bounce
FROM (SELECT seq, unnest(recipients) AS r FROM mtx_d WHERE outbound) WHERE NOT r.local""",
    "senders": """  -- who wrote to us, and the first time (log order)
SELECT sender, split_part(sender, '@', -1) AS domain, min(seq) AS seq
FROM mtx_d WHERE NOT outbound AND coalesce(sender, '') <> '' GROUP BY sender""",
    "inbox": """  -- which of our mailboxes received mail from whom, first when
SELECT r.address AS mailbox, sender, split_part(sender, '@', -1) AS domain, min(ts) AS ts
FROM (SELECT sender, ts, unnest(recipients) AS r FROM mtx_d WHERE NOT outbound AND coalesce(sender, '') <> '')
WHERE r.local AND r.status = 'sent' GROUP BY ALL""",
    "facts": """  -- evidence of our domains (delivered here, logged in) and of the mail server's own names
SELECT DISTINCT 'ours' AS kind, split_part(r.address, '@', -1) AS value
FROM (SELECT unnest(recipients) AS r FROM mtx_d) WHERE r.local
UNION SELECT 'ours', split_part(sasl, '@', -1) FROM mtx_d WHERE sasl IS NOT NULL
UNION SELECT 'server', server FROM mtx_d WHERE coalesce(server, '') <> ''
UNION SELECT 'server', lower(r.relay) FROM (SELECT unnest(recipients) AS r FROM mtx_d)
WHERE r.local AND coalesce(r.relay, '') <> ''""",
    "names": """  -- the name each internal client gave first
SELECT client_ip, arg_min(lower(client_name), seq) AS name, min(seq) AS seq FROM mtx_d
WHERE internal AND client_name IS NOT NULL AND client_name <> 'unknown' GROUP BY client_ip""",
    "clock": f"""  -- outside SMTP clients as the maillog dates them (checks its clock against the network logs)
SELECT client_ip, ts, seq FROM mtx_d WHERE client_ip IS NOT NULL AND NOT internal ORDER BY seq
LIMIT {MAX_CLOCK_SAMPLES}""",
}
MAIL_DAILY_EMPTY = {
    "out": "SELECT 0::BIGINT AS seq, 0.0 AS ts, ''::VARCHAR AS account, ''::VARCHAR AS client_ip, FALSE AS internal, "
           "FALSE AS authenticated, FALSE AS reply",
    "rcpt": "SELECT 0::BIGINT AS seq, ''::VARCHAR AS address, ''::VARCHAR AS domain, ''::VARCHAR AS status, "
            "FALSE AS hard_bounce",
    "senders": "SELECT ''::VARCHAR AS sender, ''::VARCHAR AS domain, 0::BIGINT AS seq",
    "inbox": "SELECT ''::VARCHAR AS mailbox, ''::VARCHAR AS sender, ''::VARCHAR AS domain, 0.0 AS ts",
    "facts": "SELECT ''::VARCHAR AS kind, ''::VARCHAR AS value",
    "names": "SELECT ''::VARCHAR AS client_ip, ''::VARCHAR AS name, 0::BIGINT AS seq",
    "clock": "SELECT ''::VARCHAR AS client_ip, 0.0 AS ts, 0::BIGINT AS seq",
}


def summarise_day(con: duckdb.DuckDBPyConnection, files: list[str], networks: InternalNetworks,
                  target: Callable[[str], str]) -> None:
    """Write the day's `MAIL_DAILY` summaries of the transactions in `files` to `target(name)`."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mail_d AS
        SELECT seq, ts, client_ip, client_name, sasl_username AS sasl, sender, subject, lower(server) AS server,
               recipients FROM read_parquet({files!r})""")
    clients = [ip for (ip,) in con.execute(
        "SELECT DISTINCT client_ip FROM mail_d WHERE client_ip IS NOT NULL").fetchall()]
    con.register("_mclients", pa.table({"ip": pa.array(clients, pa.string()),
                                         "internal": [is_ip(ip) and networks.is_internal(ip) for ip in clients]}))
    encoded = [s for (s,) in con.execute(
        "SELECT DISTINCT subject FROM mail_d WHERE contains(subject, '=?')").fetchall()]
    con.register("_mencoded", pa.table({"subject": pa.array(encoded, pa.string()),
                                         "reply": [is_reply(s) for s in encoded]}))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mtx_d AS
        SELECT m.* EXCLUDE (subject), coalesce(c.internal, FALSE) AS internal,
               (m.sasl IS NOT NULL OR (coalesce(c.internal, FALSE) AND coalesce(m.sender, '') <> '')) AS outbound,
               coalesce(e.reply, regexp_matches(coalesce(m.subject, ''), '{_REPLY_SQL}')) AS reply
        FROM mail_d m LEFT JOIN _mclients c ON c.ip = m.client_ip LEFT JOIN _mencoded e ON e.subject = m.subject""")
    for name, query in MAIL_DAILY.items():
        con.execute(f"COPY ({query}) TO '{target(name)}' (FORMAT parquet, COMPRESSION zstd)")
    con.execute("DROP TABLE mtx_d; DROP TABLE mail_d")
    con.unregister("_mclients")
    con.unregister("_mencoded")


def prepare(con: duckdb.DuckDBPyConnection, summaries: dict[str, list[str]]) -> None:
    """Views over the day summaries of the selected days (`<name>_mail`); which domains are ours (`_mdomains`)."""
    for name, files in summaries.items():
        source = f"read_parquet({files!r})" if files else f"(SELECT * FROM ({MAIL_DAILY_EMPTY[name]}) WHERE FALSE)"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name}_mail AS SELECT * FROM {source}")
    ours = {d for (d,) in con.execute("SELECT DISTINCT value FROM facts_mail WHERE kind = 'ours'").fetchall()}
    domains = [d for (d,) in con.execute(
        "SELECT domain FROM rcpt_mail UNION SELECT domain FROM senders_mail UNION SELECT domain FROM inbox_mail "
        "UNION SELECT value FROM facts_mail WHERE kind = 'ours'").fetchall()]
    con.register("_mdomains", pa.table({"domain": pa.array(domains, pa.string()),
                                         "ours": [is_ours(d or "", ours) for d in domains]}))


def clock_samples(con: duckdb.DuckDBPyConnection) -> list[tuple[str, float]]:
    return con.execute(f"SELECT client_ip, ts FROM clock_mail ORDER BY seq LIMIT {MAX_CLOCK_SAMPLES}").fetchall()


def server_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {n for (n,) in con.execute("SELECT DISTINCT value FROM facts_mail WHERE kind = 'server'").fetchall()}


def aggregate(con: duckdb.DuckDBPyConnection, *, offset: float, window_seconds: int, knowledge=None) -> MailView:
    """Every sender's counters, with the maillog's clock moved by `offset` seconds."""
    view = MailView(knowledge=knowledge, server_names=server_names(con))
    view.our_domains = {d for (d,) in con.execute("SELECT domain FROM _mdomains WHERE ours").fetchall()}
    view.transactions = con.execute("SELECT count(*) FROM out_mail").fetchall()[0][0]
    con.execute("""CREATE OR REPLACE TEMP TABLE mext AS  -- outside recipients of outbound mail
        SELECT r.seq, r.address, r.status, r.hard_bounce FROM rcpt_mail r JOIN _mdomains d USING (domain)
        WHERE NOT d.ours""")
    known_to_graph = []
    if knowledge is not None:
        candidates = con.execute("SELECT DISTINCT address FROM mext").fetchall()
        known_to_graph = [a for (a,) in candidates if knowledge.is_known_contact(a)]
    con.register("_mgraph", pa.table({"address": pa.array(known_to_graph, pa.string())}))
    con.execute("""CREATE OR REPLACE TEMP TABLE mwrote AS  -- outside senders, first time they wrote (log order)
        SELECT s.sender AS address, min(s.seq) AS seq FROM senders_mail s LEFT JOIN _mdomains d USING (domain)
        WHERE NOT coalesce(d.ours, FALSE) GROUP BY s.sender""")
    con.execute("""CREATE OR REPLACE TEMP TABLE mknown AS  -- when each outside address first corresponded with us
        SELECT address, min(seq) AS seq FROM (
          SELECT address, seq FROM mext WHERE status = 'sent' UNION ALL SELECT address, seq FROM mwrote)
        GROUP BY address""")
    # the recipients' counts per message first (a narrow aggregate), then one row per outbound message
    con.execute("""CREATE OR REPLACE TEMP TABLE mcounts AS
        SELECT e.seq, count(*) AS n_ext,
               count(*) FILTER (WHERE (k.seq IS NULL OR k.seq >= e.seq) AND g.address IS NULL) AS n_new,
               sum(e.hard_bounce::INT) AS n_bounced, bool_or(w.address IS NOT NULL) AS to_correspondent
        FROM mext e LEFT JOIN mknown k ON k.address = e.address LEFT JOIN _mgraph g ON g.address = e.address
        LEFT JOIN mwrote w ON w.address = e.address GROUP BY e.seq""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mmsg AS  -- one row per outbound message
        SELECT t.seq, t.ts - {offset} AS ts, t.account, t.client_ip, t.internal, t.authenticated,
               coalesce(c.n_ext, 0) AS n_ext, coalesce(c.n_new, 0) AS n_new, coalesce(c.n_bounced, 0) AS n_bounced,
               t.reply AND coalesce(c.n_ext, 0) > 0 AS reply, c.to_correspondent
        FROM out_mail t LEFT JOIN mcounts c USING (seq)""")
    con.execute("DROP TABLE mcounts; DROP TABLE mknown; DROP TABLE mwrote")
    rows = stream(con, f"""
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
        FROM w WHERE key IS NOT NULL GROUP BY kind, key""")
    for (kind, key, first, messages, burst, burst_start, new_peak, new_start, new, replies, strangers, external,
         bounces, first_auth, auth_ips, clients) in rows:
        stats = SenderStats(first_seen=first, messages=messages, peak_burst=burst, peak_burst_start=burst_start,
                            peak_new_messages=new_peak, peak_new_start=new_start or 0.0, new_recipients=int(new),
                            replies=int(replies), stranger_replies=strangers, external_recipients=int(external),
                            hard_bounces=int(bounces), first_external_auth=first_auth,
                            auth_external_ips=frozenset(auth_ips or ()),
                            clients=frozenset(clients or ()) if kind == "account" else frozenset())
        (view.accounts if kind == "account" else view.hosts)[key] = stats
    view.host_names = dict(con.execute(
        "SELECT client_ip, arg_min(name, seq) FROM names_mail GROUP BY client_ip").fetchall())
    con.execute(f"""CREATE OR REPLACE TEMP TABLE minbound AS  -- outside senders delivered to our mailboxes
        SELECT i.mailbox, i.sender, i.ts - {offset} AS ts FROM inbox_mail i LEFT JOIN _mdomains d USING (domain)
        WHERE NOT coalesce(d.ours, FALSE)""")
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
