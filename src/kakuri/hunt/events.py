"""What the log parsers produce: one small record per log line, in true UTC epoch seconds."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class WebRequest:
    """One proxied HTTP request or CONNECT tunnel (Squid access.log)."""

    ts: float
    client: str
    method: str
    url: str  # full URL; "host:port" for CONNECT
    host: str  # lower case, no port; an IP literal when the URL named one
    port: int
    path: str
    status: int
    code: str  # squid result code, e.g. TCP_MISS, TCP_DENIED, TCP_TUNNEL
    size: int
    server_ip: str | None  # upstream address from hierarchy/from, None when not contacted
    mime: str
    elapsed_ms: int = 0  # time the request took: the upstream connection began at ts - elapsed


@dataclass(slots=True)
class Connection:
    """One connection from the firewall/edge sensor (Zeek conn.log)."""

    ts: float
    orig: str
    resp: str
    resp_port: int
    proto: str
    service: str
    state: str
    orig_bytes: int
    resp_bytes: int
    duration: float = 0.0

    @property
    def established(self) -> bool:
        return self.state not in _FAILED_STATES


_FAILED_STATES = frozenset({"S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"})


@dataclass(slots=True)
class DnsAnswer:
    """One DNS query seen by the sensor (Zeek dns.log), with its answers."""

    ts: float
    client: str
    server: str
    query: str
    qtype: str
    answers: tuple[str, ...]


@dataclass(slots=True)
class FileSeen:
    """A file transferred to a host, with its digest (Zeek files.log)."""

    ts: float
    host: str
    sha256: str
    source: str = ""


@dataclass(slots=True)
class MailRecipient:
    address: str
    status: str  # sent | bounced | deferred | expired ...
    dsn: str
    local: bool  # delivered to a mailbox here (lmtp/local/virtual), not relayed out
    relay: str = ""  # next hop name, e.g. our own mail server's name for LMTP


@dataclass(slots=True)
class MailTransaction:
    """One message through the mail server (Postfix queue id), assembled from its syslog lines."""

    queue_id: str
    ts: float = 0.0
    client_ip: str | None = None
    client_name: str | None = None
    sasl_username: str | None = None
    sender: str | None = None  # envelope from, "" for bounces
    subject: str | None = None
    helo: str | None = None
    recipients: list[MailRecipient] = field(default_factory=list)
    is_bounce_notice: bool = False
    server: str = ""  # syslog host name of the mail server that logged it
