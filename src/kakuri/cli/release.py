"""`kakuri release`: the all-clear, releasing (or bouncing) held and quarantined mail in bulk by filter."""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Optional

import typer

from kakuri.cli import output, state
from kakuri.cli.actor import current_actor
from kakuri.display import visible

console = output.console()


def register(root: typer.Typer) -> None:
    root.command("release")(release)


def release(
    reason: str = typer.Option(..., "--reason", "-r", help="Why (kept in the audit log of every message)"),
    states: list[str] = typer.Option(["held"], "--state", help="held and/or quarantined (repeat the option)"),
    sender: str = typer.Option("", "--sender", help="Envelope sender or From contains this"),
    recipient: str = typer.Option("", "--recipient", help="A whole address or a fragment such as @partner.example"),
    since: Optional[datetime] = typer.Option(None, "--since", help="Received at or after (UTC)"),
    until: Optional[datetime] = typer.Option(None, "--until", help="Received before (UTC)"),
    symbol: str = typer.Option("", "--symbol", help="Messages with this symbol, e.g. ATTACHMENT_ARCHIVE"),
    direction: str = typer.Option("", "--direction", help="inbound | outbound | internal"),
    incident: Optional[int] = typer.Option(None, "--incident", help="Linked to this incident or sent by its accounts/hosts"),
    everything: bool = typer.Option(False, "--all", help="Every message in the given states (no other filter needed)"),
    emergency_only: bool = typer.Option(
        False, "--emergency-only", help="Only mail kept by an emergency switch alone (its own score let it through)"
    ),
    bounce: bool = typer.Option(False, "--bounce", help="Return held mail to its senders instead of delivering it"),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be released; change nothing"),
) -> None:
    """Release (or bounce) kept mail in bulk through the running gateway; every message is audited."""
    from kakuri.receive.config import GatewayConfig
    from kakuri.receive.shared_spool import spool_for
    from kakuri.respond.incidents import IncidentError
    from kakuri.respond.release import ReleaseError, ReleaseFilter, bounce_matching, release_matching, select_messages
    from kakuri.store.config import open_stores

    settings = state.settings()
    flt = ReleaseFilter(states=tuple(states), sender=sender, recipient=recipient, since=since, until=until,
                        symbol=symbol, direction=direction, incident_id=incident, everything=everything,
                        emergency_only=emergency_only)
    stores = open_stores(settings)
    try:
        if dry_run:
            with stores.sessions() as session:
                _show(select_messages(session, flt), "bounce" if bounce else "release")
            return
        spool = spool_for(settings, engine=stores.engine)
        if bounce:
            hostname = GatewayConfig.from_settings(settings).smtp.hostname or socket.getfqdn()
            result = bounce_matching(stores, spool, flt, actor=current_actor(), reason=reason, hostname=hostname)
        else:
            result = release_matching(stores, spool, flt, actor=current_actor(), reason=reason)
    except (ReleaseError, IncidentError) as exc:
        raise output.fail(exc, 2) from exc
    finally:
        stores.close()
    verb = "bounced" if bounce else "released"
    console.print(f"{len(result.done)} message(s) {verb}; the running gateway delivers them within seconds")
    for queue_id, why in result.failed.items():
        output.echo(f"{queue_id}: not {verb}: {why}", err=True)
    if result.failed:
        raise typer.Exit(1)


def _show(messages, verb: str) -> None:
    # One plain line per message: easy to read, grep and count, and never wrapped by a table.
    output.echo(f"would {verb} {len(messages)} message(s):")
    for m in messages:
        rcpts = ",".join(r.address for r in m.recipients)
        fields = (m.queue_id, f"{m.received_at:%Y-%m-%d %H:%M:%S}", m.state, f"{m.mail_from or '<>'} -> {rcpts}", m.subject[:80])
        output.echo("\t".join(visible(f) for f in fields))
