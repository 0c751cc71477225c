"""Config sections of the SMTP edge: `[smtp]`, `[delivery]`, `[spool]` (validated here, read via Settings.section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def parse_host_port(value: str, *, default_port: int = 25) -> tuple[str, int]:
    """ "127.0.0.1:2525", "[::1]:25", "mx.example" -> (host, port)."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, default_port


class SmtpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listen: str = "127.0.0.1:2525"
    hostname: str = ""  # name in the banner and our Received header; "" = this machine's host name
    tls_cert: str = ""  # PEM paths (relative to the data folder); both set = STARTTLS offered
    tls_key: str = ""
    auth_users: dict[str, str] = Field(default_factory=dict)  # login -> argon2 hash; AUTH only over TLS
    max_message_bytes: int = 50 * 1024 * 1024
    max_recipients: int = 100
    session_timeout_seconds: float = 300.0
    scan_inline_timeout_seconds: float = 10.0  # longer scans answer 250 and finish from the spool
    scan_workers: int = 2
    scan_pool: Literal["process", "thread"] = "process"  # process: one scanner per core, no GIL contention
    relay_check: bool = True  # refuse external recipients for untrusted clients (every recipient before our_domains is set)


class DeliveryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    next_hop: str = "maildir"  # host:port of the next SMTP hop, or "maildir" (built-in local store)
    maildir: str = "maildir"  # relative to the data folder
    timeout_seconds: float = 60.0
    concurrency: int = 8  # deliveries in flight
    retry_schedule_seconds: list[float] = Field(default_factory=lambda: [60, 300, 900, 1800, 3600])
    max_age_seconds: float = 5 * 24 * 3600  # then temporary failures become a bounce
    bounce: bool = True  # send a DSN to the envelope sender on permanent failure
    subject_tag: str = "[SUSPICIOUS]"
    # true when the next hop keeps a message once it has the final dot, even if we die before reading its
    # 250 (Postfix, e.g. its re-injection listener): a kill -9 in that moment then never delivers twice
    # (receive/replay.py). false: such a message is delivered again after the restart (at least once).
    next_hop_commits_on_dot: bool = False

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _not_empty(cls, value: list[float]) -> list[float]:
        if not value or any(v < 0 for v in value):
            raise ValueError("needs at least one non-negative delay")
        return value

    def retry_delay(self, attempts: int) -> float:
        """Delay before the next try after `attempts` failed ones (the last step repeats)."""
        schedule = self.retry_schedule_seconds
        return schedule[min(max(attempts, 1), len(schedule)) - 1]


class SpoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dir: str = "spool"  # relative to the data folder
    max_bytes: int = 1024 * 1024 * 1024  # over this, new mail gets 451 until delivery catches up
    max_age_seconds: float = 600.0  # oldest message not yet scanned/tried; older = we are behind: 451
    poll_seconds: float = 2.0  # how often entries dropped in by other processes (release) are picked up


class GatewayConfig(BaseModel):
    smtp: SmtpConfig
    delivery: DeliveryConfig
    spool: SpoolConfig

    @classmethod
    def from_settings(cls, settings) -> GatewayConfig:
        return cls(
            smtp=SmtpConfig.model_validate(settings.section("smtp")),
            delivery=DeliveryConfig.model_validate(settings.section("delivery")),
            spool=SpoolConfig.model_validate(settings.section("spool")),
        )


# Commented defaults that `kakuri init` writes into kakuri.toml.
TOML_DEFAULTS = """
[smtp]
# listen = "127.0.0.1:2525"        # production: "0.0.0.0:25"
# hostname = ""                    # banner and Received name, e.g. "mx1.example.co.jp"; "" = host name
# tls_cert = "tls/cert.pem"        # STARTTLS; AUTH is offered only over TLS
# tls_key = "tls/key.pem"
# auth_users = { }                 # login = "argon2 hash" (submission)
# max_message_bytes = 52428800
# max_recipients = 100
# session_timeout_seconds = 300
# scan_inline_timeout_seconds = 10 # scan before answering DATA (so 550 is possible); longer = 250 and scan later
# scan_workers = 2

[delivery]
# next_hop = "maildir"             # or "127.0.0.1:10026" (e.g. Postfix re-injection)
# retry_schedule_seconds = [60, 300, 900, 1800, 3600]
# max_age_seconds = 432000         # then bounce
# bounce = true
# subject_tag = "[SUSPICIOUS]"
# next_hop_commits_on_dot = false  # true behind Postfix: no second copy after a kill -9 mid-delivery

[spool]
# max_bytes = 1073741824           # over this or older than max_age_seconds: answer 451
# max_age_seconds = 600

[ppap]
# hold_seconds = 1800              # hold unopenable encrypted archives for their password mail; 0 = deliver at once
# on_timeout = "deliver"           # no password by then: "deliver" (with the subject tag) or "quarantine"

[store]
# url = ""                         # "" = SQLite kakuri.db here; postgresql+psycopg://user:pw@host/db
# blobs_dir = "blobs"

[cluster]                          # PostgreSQL only: several `kakuri serve` nodes on one database
# node_id = ""                     # "" = host name; unique per node
# lease_seconds = 10               # a node silent this long is dead: the others finish its mail
"""
