"""Which internal hosts forward traffic for others: proxies, resolvers, mail servers.

Their upstream traffic belongs to their clients, so they are never suspects, and their clients' rare
destinations must not look common because the relay talks to them too. The operator declares them in
`[hunt]` (`proxies`, `resolvers`, `mail_servers`, `relays`); a role left empty is inferred:

- resolver: an internal address that answers other internal hosts' DNS queries;
- mail server: receives SMTP from outside, or carries the name the maillog is written under;
- proxy: reaches many outside addresses *and* the proxy log accounts for those connections (each one
  opens within a second of a request the proxy logged to that address), *and* is not itself a client
  in the proxy log. Malware that bypasses the proxy also reaches many outside addresses directly,
  but those connections are in no proxy record, and the infected PC still browses through the proxy:
  it stays a host, and its direct traffic is analysed like any other host's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kakuri.hunt.config import HuntConfig

PROXY_MIN_DESTINATIONS = 20
PROXY_MIN_ACCOUNTED = 0.5  # share of its outside connections matching the proxy log's records
PROXY_MAX_OWN_REQUESTS = 0.01  # its own proxy-log requests, relative to its outside connections


@dataclass
class InfraEvidence:
    resolvers: dict[str, int] = field(default_factory=dict)  # ip -> internal clients answered
    smtp_servers: dict[str, int] = field(default_factory=dict)  # ip -> SMTP sessions from outside
    outside: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # ip -> (destinations, accounted, total)
    proxy_requests: dict[str, int] = field(default_factory=dict)  # ip -> requests it made through the proxy
    forward_names: dict[str, set[str]] = field(default_factory=dict)  # name -> internal addresses


def find_relays(cfg: HuntConfig, evidence: InfraEvidence, mail_server_names: set[str]) -> dict[str, str]:
    """ip -> role, e.g. "proxy (declared)" or "resolver (inferred: answers 40 hosts)"."""
    roles: dict[str, str] = {}
    for ip in cfg.relays:
        roles[ip] = "relay (declared)"
    for role, declared in (("proxy", cfg.proxies), ("resolver", cfg.resolvers), ("mail server", cfg.mail_servers)):
        roles.update({ip: f"{role} (declared)" for ip in declared})
    if not cfg.resolvers:
        for ip, clients in evidence.resolvers.items():
            roles.setdefault(ip, f"resolver (inferred: answers {clients} hosts)")
    if not cfg.mail_servers:
        for ip, sessions in evidence.smtp_servers.items():
            roles.setdefault(ip, f"mail server (inferred: {sessions} SMTP sessions from outside)")
        for name, ips in evidence.forward_names.items():
            if name in mail_server_names or name.partition(".")[0] in mail_server_names:
                for ip in ips:
                    roles.setdefault(ip, f"mail server (inferred: resolves as {name})")
    if not cfg.proxies:
        for ip, (destinations, accounted, total) in evidence.outside.items():
            if is_proxy(destinations, accounted, total, evidence.proxy_requests.get(ip, 0)):
                roles.setdefault(ip, f"proxy (inferred: {accounted}/{total} outside connections in the proxy log)")
    return roles


def is_proxy(destinations: int, accounted: int, total: int, own_requests: int) -> bool:
    return (
        destinations >= PROXY_MIN_DESTINATIONS
        and accounted >= PROXY_MIN_ACCOUNTED * total
        and own_requests <= PROXY_MAX_OWN_REQUESTS * total
    )
