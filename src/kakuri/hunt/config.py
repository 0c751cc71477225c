"""Options of `kakuri hunt` (settings section `[hunt]`). Statistical knobs, not scores: scores are policy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HuntConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Sources
    timezones: dict[str, str] = Field(default_factory=dict)  # log kind ("maillog") -> IANA zone; default UTC
    maillog_year: int | None = None  # syslog has no year; None = infer from the other logs or file dates
    internal_networks: list[str] = Field(
        default_factory=lambda: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
    )
    # Infrastructure as declared by the operator; a role left empty is inferred from traffic (infrastructure.py)
    proxies: list[str] = Field(default_factory=list)
    resolvers: list[str] = Field(default_factory=list)
    mail_servers: list[str] = Field(default_factory=list)
    relays: list[str] = Field(default_factory=list)  # other hosts that forward for others (declared only)
    feed_urls: list[str] = Field(default_factory=list)  # fetched only when the user configures them

    # Columnar engine (DuckDB): memory it may use before spilling to disk; threads (0 = one per core)
    store_dir: str | None = None  # default: <data folder>/hunt
    engine_memory_mb: int = 1024
    engine_threads: int = 0

    # Verdict
    infected_score: float = 10.0

    # Destination prevalence: a destination more than this share of hosts talks to is "common", never C2
    rare_max_hosts: int = 2
    rare_max_fraction: float = 0.02
    # Feodo entries offline for longer than this before the contact are stale (IP reused by a benign site)
    feed_stale_days: float = 30.0

    # Beaconing: at least this many contacts, median gap >= min_interval, MAD/median <= max_jitter
    beacon_min_events: int = 6
    beacon_min_interval_seconds: float = 30.0
    beacon_max_jitter: float = 0.3
    beacon_min_score: float = 0.5  # RITA-style score 0..1 (beaconing.py) a regular pair must also reach

    # C2 lists: at least this many distinct rare IP literals before "rotation" is claimed (a VPN has two)
    rotation_min_destinations: int = 3
    # Payload: a one-off fetch (few contacts with that host) of a real file, not a version check
    payload_min_bytes: int = 20_000
    payload_max_contacts: int = 5

    # Direct mail from workstations
    direct_smtp_min_destinations: int = 3
    mx_lookup_min_domains: int = 5

    # Mail behaviour, relative to the population of senders
    burst_window_seconds: int = 3600
    burst_min_messages: int = 20
    burst_factor: float = 5.0  # x the median per-sender peak
    fanout_min_messages: int = 10
    fanout_min_new_recipients: int = 20
    stranger_reply_min: int = 5
    hard_bounce_min: int = 5
    hard_bounce_min_ratio: float = 0.05
    external_auth_many_sources: int = 3

    # Non-person senders never put on a warning list
    automated_localparts: list[str] = Field(
        default_factory=lambda: [
            "mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply",
            "do_not_reply", "bounce", "bounces", "notification", "notifications", "notify", "alert", "alerts",
            "newsletter", "news", "info-noreply", "auto-confirm", "autoreply", "daemon", "root", "nobody",
        ]
    )
