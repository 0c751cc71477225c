"""`kakuri serve` (the gateway, optionally with the console) and `kakuri run-default` (what `make run` starts)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import typer

from kakuri.cli import state

DEFAULT_SMTP = "127.0.0.1:2525"
DEFAULT_WEB = "127.0.0.1:8025"


def serve(
    smtp: str | None = typer.Option(None, "--smtp", help="Listen on HOST:PORT (overrides [smtp] listen)"),
    next_hop: str | None = typer.Option(
        None, "--next-hop", help='Deliver to HOST:PORT, or "maildir" (overrides [delivery] next_hop)'
    ),
    web: str | None = typer.Option(None, "--web", help="Also serve the console on HOST:PORT"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every SMTP command"),
) -> None:
    """Run the SMTP gateway: accept, scan, quarantine or deliver, until stopped (Ctrl-C or SIGTERM)."""
    _logging(verbose)
    settings = state.settings()
    warn_permissions(settings)
    asyncio.run(_serve(settings, smtp=smtp, next_hop=next_hop, web=web))


def run_default() -> None:
    """Start the embedded default: data folder ./kakuri-data, SMTP on 127.0.0.1:2525, delivery to a local Maildir,
    and the web console on 127.0.0.1:8025."""
    _logging(False)
    home = state.HOME or Path("kakuri-data")
    if not (home / "kakuri.toml").exists():
        from kakuri.cli.init import init

        state.HOME = home
        init(domain=[], store=None)
    settings = state.settings()
    warn_permissions(settings)
    maildir = (home / "maildir" / "new").resolve()
    typer.echo(
        f"""
kakuri is listening on {DEFAULT_SMTP}; delivered mail goes to {maildir}

Send a test mail with swaks:
  swaks --server {DEFAULT_SMTP} --from alice@example.com --to bob@example.org --header "Subject: hello"
or with Python:
  python3 -c "import smtplib; smtplib.SMTP('127.0.0.1', 2525).sendmail('alice@example.com', ['bob@example.org'],
      b'Subject: hello\\r\\nFrom: alice@example.com\\r\\nTo: bob@example.org\\r\\n\\r\\nhi\\r\\n')"
Then: ls {maildir}   kakuri --home {home} trace   kakuri --home {home} quarantine list

Web console: http://{DEFAULT_WEB}/ (there is no default account; create the first one with
  .venv/bin/kakuri --home {home} user add admin --role admin)
Stop with Ctrl-C.
"""
    )
    asyncio.run(_serve(settings, smtp=DEFAULT_SMTP, next_hop="maildir", web=DEFAULT_WEB))


async def _serve(settings, *, smtp: str | None, next_hop: str | None, web: str | None) -> None:
    from kakuri.receive.reload import ConfigReloader, relay_rules_listener, remove_pid, write_pid
    from kakuri.receive.rules_reload import rules_listener
    from kakuri.receive.server import Gateway

    gateway = Gateway(settings, smtp_listen=smtp, next_hop=next_hop)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await gateway.start()
    host, port = gateway.address
    typer.echo(f"kakuri: SMTP on {host}:{port}, next hop {gateway.config.delivery.next_hop}", err=True)
    reloader = ConfigReloader(settings)
    reloader.on_reload(relay_rules_listener(gateway))
    reloader.on_reload(rules_listener(gateway))  # `kakuri rules reload`: YARA, policy, detectors (then a retro-scan)
    console = await _start_console(settings, gateway, web, reloader) if web else None
    loop.add_signal_handler(signal.SIGHUP, reloader.reload)  # `kakuri reload` sends it
    write_pid(Path(settings.home))
    try:
        await stop.wait()
    finally:
        remove_pid(Path(settings.home))
        if console is not None:
            console.should_exit = True
        await gateway.stop()


async def _start_console(settings, gateway, listen: str, reloader=None):
    import uvicorn

    from kakuri.receive.config import parse_host_port
    from kakuri.web.app import create_app

    host, port = parse_host_port(listen, default_port=8025)
    app = create_app(settings, stores=gateway.stores, quarantine=_console_quarantine(gateway), reloader=reloader)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    asyncio.get_running_loop().create_task(server.serve())
    typer.echo(f"kakuri: console on http://{host}:{port}/", err=True)
    return server


def _console_quarantine(gateway):
    """The console's release goes through the gateway's spool (tagging, retries, bounces) instead of a direct send."""
    from kakuri.store.quarantine import QuarantineError
    from kakuri.web.actions import ActionError, StoreQuarantine

    class GatewayQuarantine(StoreQuarantine):
        async def release(self, *, queue_id: str, actor: str, reason: str) -> str:
            try:
                return str((await gateway.release(queue_id=queue_id, actor=actor, reason=reason)).state)
            except QuarantineError as exc:
                raise ActionError(str(exc)) from exc

    return GatewayQuarantine(gateway.stores)


def warn_permissions(settings) -> None:
    """kakuri.toml, the database and the TLS key hold secrets and mail: say so when others can read them."""
    from kakuri.settings import permission_warnings

    for line in permission_warnings(Path(settings.home)):
        logging.getLogger("kakuri").warning("%s", line)


def _logging(verbose: bool) -> None:
    from kakuri.cli.output import VisibleLogFilter

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(VisibleLogFilter())
    logging.getLogger("mail.log").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def reload(timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for the gateway's answer")) -> None:
    """Make the running gateway re-read kakuri.toml (SIGHUP); prints the configuration generation in force."""
    from kakuri.cli import output
    from kakuri.receive.reload import ReloadError, request_reload

    settings = state.settings()  # a bad file is refused here, before the gateway is bothered
    try:
        result = request_reload(Path(settings.home), timeout_seconds=timeout)
    except ReloadError as exc:
        raise output.fail(exc, 2) from exc
    if result.error:
        raise output.fail(f"the gateway kept generation {result.generation}: {result.error}", 1)
    typer.echo(f"configuration generation {result.generation} in force (loaded {result.loaded_at[:19]} UTC)")


def register(app: typer.Typer) -> None:
    app.command("reload")(reload)
    app.command("serve")(serve)
    app.command("run-default")(run_default)
