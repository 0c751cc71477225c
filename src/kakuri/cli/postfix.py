"""`kakuri postfix-config` (main.cf / master.cf snippets for these settings) and `kakuri milter`.

Two ways to run behind Postfix (Postfix's FILTER_README and MILTER_README):
- content filter (after queue): Postfix queues the message, hands it to `kakuri serve` over SMTP, and
  kakuri delivers the scanned message to a Postfix listener that has no filter. Kakuri down = Postfix
  defers and retries from its queue.
- milter (before queue): Postfix asks `kakuri milter` during DATA; kakuri answers accept (with
  headers), reject, tempfail or discard (after keeping the message). Kakuri down = Postfix applies
  milter_default_action (tempfail: the client retries).
Both modes release quarantined mail through the same re-injection listener, which has neither
content filter nor milter (otherwise a released message would be scanned and kept again).
"""

from __future__ import annotations

import asyncio
import signal
from enum import StrEnum
from pathlib import Path
from typing import Optional

import typer

from kakuri.cli import state


class Mode(StrEnum):
    CONTENT_FILTER = "content-filter"
    MILTER = "milter"


def _ports(settings) -> dict[str, str]:
    from kakuri.receive.config import GatewayConfig, parse_host_port
    from kakuri.receive.milter.server import MilterConfig

    gateway = GatewayConfig.from_settings(settings)
    milter = MilterConfig.model_validate(settings.section("milter"))
    hop = gateway.delivery.next_hop
    if hop == "maildir":
        hop = "127.0.0.1:10026"  # the snippet's re-injection listener; set [delivery] next_hop to it
    return {
        "smtp": "[%s]:%d" % parse_host_port(gateway.smtp.listen),
        "reinject": "%s:%d" % parse_host_port(hop),
        "milter": "inet:%s:%d" % parse_host_port(milter.listen, default_port=8899),
        "next_hop": gateway.delivery.next_hop,
        "commits_on_dot": gateway.delivery.next_hop_commits_on_dot,
    }


REINJECT = """\
# Re-injection: kakuri delivers scanned and released mail here; no content filter, no milter.
{reinject} inet n  -       n       -       -       smtpd
    -o syslog_name=postfix/kakuri-reinject
    -o content_filter=
    -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
    -o smtpd_helo_restrictions=
    -o smtpd_client_restrictions=
    -o smtpd_sender_restrictions=
    -o smtpd_recipient_restrictions=permit_mynetworks,reject
    -o smtpd_relay_restrictions=permit_mynetworks,reject
    -o mynetworks=127.0.0.0/8,[::1]/128
    -o smtpd_authorized_xforward_hosts=127.0.0.0/8
"""


def snippets(mode: Mode, ports: dict[str, str]) -> tuple[str, str]:
    """(main.cf lines, master.cf lines) for one mode."""
    if mode is Mode.CONTENT_FILTER:
        main = f"""\
# kakuri: after-queue content filter. Every message queued by smtpd or pickup goes to kakuri first.
content_filter = kakuri-scan:{ports['smtp']}
# Address rewriting happens once, on re-injection (not before the filter and again after it).
receive_override_options = no_address_mappings
"""
        master = f"""\
# Hand-off to kakuri (kakuri serve --smtp {ports['smtp'].replace('[', '').replace(']', '')}); kakuri down = deferred, retried.
kakuri-scan unix  -       -       n       -       10      smtp
    -o syslog_name=postfix/kakuri-scan
    -o smtp_data_done_timeout=1200s
    -o smtp_send_xforward_command=yes
""" + REINJECT.format(**ports)
        return main, master
    main = f"""\
# kakuri: milter, called during DATA. tempfail = while kakuri is down, clients get 451 and retry.
smtpd_milters = {ports['milter']}
non_smtpd_milters = {ports['milter']}
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 10s
milter_content_timeout = 300s
"""
    return main, REINJECT.format(**ports)


def postfix_config(
    mode: Mode = typer.Option(Mode.CONTENT_FILTER, "--mode", help="content-filter (after queue) or milter"),
) -> None:
    """Print the main.cf and master.cf lines that put kakuri behind Postfix, for this data folder's settings."""
    ports = _ports(state.settings())
    main, master = snippets(mode, ports)
    typer.echo(f"## main.cf (append; `postconf -e` works too)\n{main}\n## master.cf (append)\n{master}")
    delivery = []
    if ports["next_hop"] != ports["reinject"]:
        delivery.append(f"next_hop = \"{ports['reinject']}\"  # deliver to the re-injection listener")
    if not ports["commits_on_dot"]:
        delivery.append("next_hop_commits_on_dot = true  # Postfix queues on the final dot: no second copy after a crash")
    if delivery:
        typer.echo("## kakuri.toml\n[delivery]\n" + "\n".join(delivery))
    command = "serve" if mode is Mode.CONTENT_FILTER else "milter"
    typer.echo(f"\n## then start `kakuri {command}` and run `postfix reload`")


def milter(
    listen: Optional[str] = typer.Option(None, "--listen", help="Milter HOST:PORT (overrides [milter] listen)"),
    smtp: Optional[str] = typer.Option(None, "--smtp", help="SMTP listener HOST:PORT (overrides [smtp] listen)"),
    next_hop: Optional[str] = typer.Option(
        None, "--next-hop", help="Where released mail goes: the Postfix re-injection HOST:PORT"
    ),
) -> None:
    """Run kakuri as a Postfix milter (plus the gateway's delivery of released mail), until stopped."""
    from kakuri.cli.serve import _logging, warn_permissions

    _logging(False)
    settings = state.settings()
    warn_permissions(settings)
    asyncio.run(_run_milter(settings, listen=listen, smtp=smtp, next_hop=next_hop))


async def _run_milter(settings, *, listen: str | None, smtp: str | None, next_hop: str | None) -> None:
    from kakuri.receive.milter.server import MilterConfig, MilterServer
    from kakuri.receive.server import Gateway

    config = MilterConfig.model_validate(settings.section("milter"))
    if listen:
        config.listen = listen
    gateway = Gateway(settings, smtp_listen=smtp, next_hop=next_hop)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await gateway.start()
    server = MilterServer(
        stores=gateway.stores,
        scans=gateway.scans,
        rules=gateway.rules,
        config=config,
        max_message_bytes=gateway.config.smtp.max_message_bytes,
        subject_tag=gateway.config.delivery.subject_tag,
    )
    server.retention = gateway.queue.retention  # accepted mail is retained for the retro-scan, as the gateway's
    await server.start()
    typer.echo(
        "kakuri: milter on %s:%s, SMTP on %s:%s, released mail to %s"
        % (*server.address, *gateway.address, gateway.config.delivery.next_hop),
        err=True,
    )
    from kakuri.receive.reload import ConfigReloader, relay_rules_listener, remove_pid, write_pid

    reloader = ConfigReloader(settings)
    reloader.on_reload(relay_rules_listener(gateway))
    from kakuri.receive.rules_reload import rules_listener

    reloader.on_reload(rules_listener(gateway))  # `kakuri rules reload`: the milter shares the gateway's scan pool
    loop.add_signal_handler(signal.SIGHUP, reloader.reload)  # `kakuri reload`
    write_pid(Path(settings.home))
    try:
        await stop.wait()
    finally:
        remove_pid(Path(settings.home))
        await server.stop()
        await gateway.stop()


def register(app: typer.Typer) -> None:
    app.command("postfix-config")(postfix_config)
    app.command("milter")(milter)
