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
    processes: int = typer.Option(
        1, "--processes", "-p", min=0,
        help="Gateway processes sharing the SMTP port, each with its own spool folder (0 = one per core)",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every SMTP command"),
) -> None:
    """Run the SMTP gateway: accept, scan, quarantine or deliver, until stopped (Ctrl-C or SIGTERM)."""
    _logging(verbose)
    settings = state.settings()
    warn_permissions(settings)
    if processes != 1:
        from kakuri.receive.supervisor import default_processes

        _supervise(settings, processes or default_processes(), smtp=smtp, next_hop=next_hop, web=web, verbose=verbose)
        return
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


def _supervise(settings, processes: int, *, smtp: str | None, next_hop: str | None, web: str | None,
               verbose: bool) -> None:
    """`--processes N`: N gateways on one port (receive/supervisor.py), until SIGTERM or Ctrl-C."""
    import socket

    from kakuri.receive.config import GatewayConfig, parse_host_port
    from kakuri.receive.reload import remove_pid, write_pid
    from kakuri.receive.supervisor import Supervisor, adopt_orphans
    from kakuri.store.config import open_stores

    home = Path(settings.home)
    config = GatewayConfig.from_settings(settings)
    host, port = parse_host_port(smtp or config.smtp.listen, default_port=25)
    reserved = None
    if port == 0:  # one port for all: reserve a free one (SO_REUSEPORT lets the children bind it too)
        reserved = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind((host, 0))
        port = reserved.getsockname()[1]
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    stores = open_stores(settings)  # the schema is brought up to date once, before N processes open it
    if stores.engine.dialect.name != "postgresql":
        adopt_orphans(home / config.spool.dir, processes)
    stores.close()
    typer.echo(f"kakuri: SMTP on {listen} in {processes} processes, next hop {next_hop or config.delivery.next_hop}",
               err=True)
    write_pid(home)  # `kakuri reload` signals the supervisor, which passes SIGHUP on to every process
    try:
        Supervisor(_acceptor, (settings, listen, next_hop, web, verbose), processes=processes).run()
    finally:
        remove_pid(home)
        if reserved is not None:
            reserved.close()


def _acceptor(index: int, settings, smtp: str, next_hop: str | None, web: str | None, verbose: bool) -> None:
    """One acceptor process of `--processes N` (started by the supervisor, spawned)."""
    _logging(verbose)
    asyncio.run(_serve(settings, smtp=smtp, next_hop=next_hop, web=web if index == 0 else None, process_index=index))


async def _serve(
    settings, *, smtp: str | None, next_hop: str | None, web: str | None, process_index: int | None = None
) -> None:
    """One gateway until SIGINT/SIGTERM; `process_index` set: one acceptor process of `--processes N`."""
    from kakuri.receive.reload import ConfigReloader, relay_rules_listener, remove_pid, write_pid
    from kakuri.receive.rules_reload import rules_listener
    from kakuri.receive.server import Gateway

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if process_index is None:
        gateway = Gateway(settings, smtp_listen=smtp, next_hop=next_hop)
    else:
        from kakuri.receive.supervisor import watch_parent
        from kakuri.store.nodes import node_id_for

        watch_parent(lambda: loop.call_soon_threadsafe(stop.set))
        gateway = Gateway(settings, smtp_listen=smtp, next_hop=next_hop, process_index=process_index, reuse_port=True,
                          node_id=node_id_for(settings, suffix=f"-{process_index}"))
    try:
        await gateway.start()
    except BaseException:
        await gateway.stop()  # what did start (scan workers) must not outlive the failure
        raise
    host, port = gateway.address
    if process_index is None:
        typer.echo(f"kakuri: SMTP on {host}:{port}, next hop {gateway.config.delivery.next_hop}", err=True)
    reloader = ConfigReloader(settings)
    reloader.on_reload(relay_rules_listener(gateway))
    reloader.on_reload(rules_listener(gateway))  # `kakuri rules reload`: YARA, policy, detectors (then a retro-scan)
    console = await _start_console(settings, gateway, web, reloader) if web else None
    loop.add_signal_handler(signal.SIGHUP, reloader.reload)  # `kakuri reload` sends it
    if process_index is None:  # with --processes the supervisor owns the pid file
        write_pid(Path(settings.home))
    try:
        await stop.wait()
    finally:
        if process_index is None:
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
