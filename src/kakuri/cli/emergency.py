"""`kakuri emergency on|off|status`: one-command emergency policies, audited, effective within seconds."""

from __future__ import annotations

from typing import Optional

import typer

from kakuri.cli import output, state
from kakuri.cli.actor import current_actor
from kakuri.respond.emergency import EmergencyError, ModeKind, active_modes, disable_mode, enable_mode

app = typer.Typer(help="Emergency policies: quarantine all archives, hold outbound mail, hold one account or host.", no_args_is_help=True)
console = output.console()

MODE_HELP = "archives | hold_outbound | hold_sender | hold_host"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="emergency")


@app.command("on")
def switch_on(
    mode: ModeKind = typer.Argument(..., help=MODE_HELP),
    value: str = typer.Argument("", help="hold_sender: the address; hold_host: the client IP"),
    reason: str = typer.Option(..., "--reason", "-r", help="Why (kept in the audit trail)"),
    incident: Optional[int] = typer.Option(None, "--incident", help="Record the switch on this incident's timeline"),
) -> None:
    """Switch an emergency policy on for every gateway worker (within a few seconds)."""
    with _session() as session:
        try:
            row = enable_mode(session, kind=mode, value=value, actor=current_actor(), reason=reason, incident_id=incident)
        except EmergencyError as exc:
            raise _fail(str(exc)) from exc
        session.commit()
        console.print(output.styled(("ON", "bold red"), f" {row.kind} {row.value} (since {row.enabled_at:%Y-%m-%d %H:%M:%S} UTC, by {row.enabled_by})"))


@app.command("off")
def switch_off(
    mode: ModeKind = typer.Argument(..., help=MODE_HELP),
    value: str = typer.Argument("", help="hold_sender/hold_host: which one; empty = all of that kind"),
    reason: str = typer.Option("", "--reason", "-r"),
) -> None:
    """Switch an emergency policy off. Held mail stays held until released (`kakuri release`)."""
    with _session() as session:
        try:
            closed = disable_mode(session, kind=mode, value=value, actor=current_actor(), reason=reason)
        except EmergencyError as exc:
            if mode not in (ModeKind.HOLD_SENDER, ModeKind.HOLD_HOST) or value:
                raise _fail(str(exc)) from exc
            closed = 0
        session.commit()
    console.print(f"OFF {mode.value} {value}: {closed} active switch(es) closed" if closed else f"{mode.value} {value} was not on")


@app.command("status")
def status() -> None:
    """Show the emergency policies in force."""
    with _session() as session:
        modes = active_modes(session)
        if not modes:
            console.print("no emergency policy in force")
            return
        table = output.table("mode", "value", "since (UTC)", "by", "reason", title="emergency policies in force")
        for m in modes:
            table.add_row(m.kind, m.value, f"{m.enabled_at:%Y-%m-%d %H:%M:%S}", m.enabled_by, m.reason)
        console.print(table)


def _session():
    from kakuri.store.config import open_stores

    stores = open_stores(state.settings())
    return stores.sessions()


def _fail(message: str) -> typer.Exit:
    return output.fail(message, 2)
