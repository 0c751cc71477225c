"""`kakuri clawback`: take delivered mail back out of the recipients' mailboxes (IMAP), or put it back (--undo)."""

from __future__ import annotations

from typing import Optional

import typer

from kakuri.cli.actor import current_actor
from kakuri.cli.retro import fail, opened, shown


def register(app: typer.Typer) -> None:
    app.command("clawback")(clawback)


def clawback(
    message: Optional[str] = typer.Argument(None, help="Queue id or Message-ID"),
    incident: Optional[int] = typer.Option(None, "--incident", help="Every message found for this incident"),
    sha256: Optional[str] = typer.Option(None, "--sha256", help="Every retained message carrying this file"),
    url: Optional[str] = typer.Option(None, "--url", help="Every retained message carrying this link"),
    reason: str = typer.Option("", "-r", "--reason", help="Why (kept in the audit trail)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Look for the copies, change nothing"),
    undo: bool = typer.Option(False, "--undo", help="Move back what an earlier clawback moved"),
) -> None:
    """Move (or delete, per the clawback action in kakuri.toml) delivered copies by Message-ID in every recipient's mailbox."""
    from kakuri.respond.clawback.actions import ClawbackError, build_connector, claw_back, select_messages, undo_clawback

    if not (message or incident is not None or sha256 or url):
        raise fail("name what to claw back: MESSAGE_ID, --incident N, --sha256 H or --url U")
    with opened() as (settings, stores), stores.sessions() as session:
        try:
            messages = select_messages(session, message=message, incident_id=incident, sha256=sha256, url=url)
            if not messages:
                raise fail("nothing delivered to our mailboxes matches", 1)
            connector, config = build_connector(settings)
            if undo:
                done = undo_clawback(session, connector, messages, actor=current_actor(), reason=reason,
                                     incident_id=incident)
            else:
                done = claw_back(session, connector, config, messages, actor=current_actor(), reason=reason,
                                 dry_run=dry_run, incident_id=incident)
        except ClawbackError as exc:
            raise fail(exc) from exc
    failed = False
    for item in done:
        typer.echo(f"{item.queue_id} <{shown(item.message_id)}>")
        for r in item.results:
            failed |= r.outcome in ("unreachable", "failed")
            where = f" [{shown(r.folder)}]" if r.folder else ""
            typer.echo(f"  {shown(r.mailbox)}: {r.outcome}{where}" + (f" - {shown(r.detail)}" if r.detail else ""))
    if failed:
        raise typer.Exit(1)
