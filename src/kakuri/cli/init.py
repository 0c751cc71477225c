"""`kakuri init [--domain D ...]`: create the data folder with a commented kakuri.toml and policy.toml.

Run again with more `--domain`s to add group-company domains later: they are recorded in the
database (our domains = `[org] our_domains` in kakuri.toml plus those recorded), and an existing
kakuri.toml is never rewritten.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional

import typer
from pydantic import ValidationError

from kakuri.cli import state
from kakuri.cli.output import fail
from kakuri.settings import CONFIG_NAME, POLICY_NAME, make_private_dir, permission_warnings, write_private

_ORG_AND_SCAN = """# kakuri configuration. Every key is optional; commented lines show the defaults.
# Scores and thresholds are not here: see policy.toml.

[org]
name = ""
our_domains = {domains}            # ours and our group companies'; `kakuri init --domain D` adds more
# internal_networks = ["127.0.0.0/8", "::1/128"]   # our PCs and relays (mail from here is outbound)
# trusted_authserv_ids = []        # trust Authentication-Results of these MTAs (e.g. ["mx1.example.co.jp"])

[unpack]
# max_depth = 8
# max_members = 1000
# max_member_bytes = 67108864
# max_total_bytes = 268435456
# max_ratio = 200.0
# max_password_attempts = 50
# timeout_seconds = 20.0

# Per-detector options: [detectors.<name>], e.g.
# [detectors.iocs]
# [detectors.urls]
"""

_WEB = """
[web]
# listen = "127.0.0.1:8025"
# time_zone = "Asia/Tokyo"
# language = "en"                  # or "ja"
# session_hours = 8.0
"""

_POLICY = """# Operator policy, merged over kakuri's stock policy (kakuri/policy/*.toml); never copy the stock files.
# Examples:
#
# [thresholds.inbound]
# quarantine = 8.0
#
# [symbols.IMPERSONATION_PARTNER_NAME]
# score = 8.0
#
# [[overrides]]
# name = "hold-all-archives"
# when = "ATTACHMENT_ARCHIVE"
# action = "hold"
"""


def default_config(domains: list[str]) -> str:
    text = _ORG_AND_SCAN.format(domains=json.dumps(domains, ensure_ascii=False))
    try:
        from kakuri.receive.config import TOML_DEFAULTS
    except ImportError:  # gateway not part of this build
        TOML_DEFAULTS = ""
    return text + TOML_DEFAULTS + _WEB


def init(
    domain: Optional[List[str]] = typer.Option(None, "--domain", "-d", help="One of our mail domains (repeat)"),
    store: Optional[str] = typer.Option(
        None, "--store", help="PostgreSQL URL (postgresql+psycopg://user:password@host/db) used from the start; "
        "default: SQLite kakuri.db in the data folder"),
) -> None:
    """Create the data folder (config, policy, database) and record our domains."""
    home = make_private_dir(state.HOME or Path("kakuri-data"))
    domains = sorted({d.strip().lower().rstrip(".") for d in domain or [] if d.strip()})
    config = home / CONFIG_NAME
    url = _store_url(store) if store else None
    if config.exists():
        if url and state.settings().section("store").get("url") != url:
            raise fail(f"{config} exists with another [store] url; edit it there (init never rewrites it)", 2)
        typer.echo(f"{config} exists; left as it is")
    else:
        text = _with_tls(home, default_config(domains))
        if url:
            from kakuri.store.config import open_stores

            # The database first (created schema, or a clear error), so no config points at a store that fails.
            open_stores(state.settings(), url=url).close()
            text = _STORE_URL_LINE.sub(f"url = {json.dumps(url)}  # kakuri init --store", text, count=1)
        write_private(config, text)
        typer.echo(f"wrote {config}" + (" (store: PostgreSQL)" if url else ""))
    policy = home / POLICY_NAME
    if not policy.exists():
        write_private(policy, _POLICY)
        typer.echo(f"wrote {policy}")
    from kakuri.store.knowledge import load_knowledge

    knowledge = load_knowledge(state.settings())
    added = knowledge.import_domains(domains, kind="ours")
    typer.echo(f"our domains: {', '.join(sorted(knowledge.our_domains)) or '(none yet: use --domain)'}")
    if added:
        typer.echo(f"recorded {len(added)} new domain(s)")
    for line in permission_warnings(home):
        typer.secho(f"warning: {line}", fg="yellow", err=True)


_STORE_URL_LINE = re.compile(r'^# url = "".*$', re.M)


def _store_url(store: str) -> str:
    from kakuri.settings import describe_invalid
    from kakuri.store.config import StoreConfig

    try:
        url = StoreConfig(url=store).url
    except ValidationError as exc:
        raise fail(describe_invalid(exc, "store").replace("[store] url", "--store"), 2) from exc
    if not url.startswith("postgresql"):
        raise fail("--store takes a PostgreSQL URL (postgresql+psycopg://user:password@host/db); SQLite is the default", 2)
    return url


def _with_tls(home: Path, text: str) -> str:
    """Make a self-signed certificate and switch STARTTLS on in the new config (tls/ kept if present)."""
    import socket

    from kakuri.receive.tls import CERT_NAME, KEY_NAME, make_self_signed

    if not (home / CERT_NAME).exists() or not (home / KEY_NAME).exists():
        make_self_signed(home, socket.gethostname())
        typer.echo(f"wrote {home / CERT_NAME} (self-signed; replace it with your MX certificate)")
    return text.replace(f'# tls_cert = "{CERT_NAME}"', f'tls_cert = "{CERT_NAME}"').replace(
        f'# tls_key = "{KEY_NAME}"', f'tls_key = "{KEY_NAME}"'
    )


def register(app: typer.Typer) -> None:
    app.command("init")(init)
