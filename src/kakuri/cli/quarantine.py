"""`kakuri quarantine list|show|release|delete`: review kept mail; every change is audited with who and why."""

from __future__ import annotations

import click
import typer

from kakuri.cli import output, state
from kakuri.cli.actor import current_actor

quarantine_app = typer.Typer(help="Review, release or delete quarantined and held mail.", no_args_is_help=True)


def _stores():
    from kakuri.store.config import open_stores

    return open_stores(state.settings())


def _fail(exc: Exception) -> None:
    raise output.fail(exc)


@quarantine_app.command("list")
def list_(
    state_: str = typer.Option("quarantined,held", "--state", help="Comma-separated states, or 'all'"),
    limit: int = typer.Option(50, "--limit"),
    jsonl: bool = typer.Option(False, "--jsonl"),
) -> None:
    """Kept messages, newest first."""
    from kakuri.store import quarantine
    from kakuri.store.messages import MessageState

    states = list(MessageState) if state_ == "all" else [MessageState(s.strip()) for s in state_.split(",")]
    stores = _stores()
    with stores.sessions() as session:
        messages = quarantine.list_messages(session, states=states, limit=limit)
    if jsonl:
        for m in messages:
            typer.echo(output.json_text(_summary(m)))
        return
    table = output.table("queue id", "received (UTC)", "state", "from", "to", "subject", "score", "symbols")
    for m in messages:
        table.add_row(
            m.queue_id,
            m.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            m.state,
            m.mail_from or "<>",
            ", ".join(r.address for r in m.recipients),
            m.subject[:60],
            f"{m.score or 0:.1f}",
            ", ".join(m.symbols[:4]) + (" ..." if len(m.symbols) > 4 else ""),
        )
    output.console().print(table)


@quarantine_app.command("show")
def show(
    queue_id: str,
    raw: bool = typer.Option(False, "--raw", help="Write the stored message (bytes) to stdout"),
) -> None:
    """Envelope, verdict with evidence, recipients and audit log of one message."""
    from kakuri.store import quarantine

    stores = _stores()
    with stores.sessions() as session:
        try:
            message = quarantine.get_message(session, queue_id=queue_id)
            if raw:
                stdout = click.get_binary_stream("stdout")
                stdout.write(quarantine.raw_message(stores.blobs, message))
                stdout.flush()
                return
        except quarantine.QuarantineError as exc:
            _fail(exc)
    detail = {
        **_summary(message),
        "client_ip": message.client_ip,
        "helo": message.helo,
        "direction": message.direction,
        "reasons": message.reasons,
        "findings": message.findings,
        "recipients": [
            {"address": r.address, "status": r.status, "attempts": r.attempts, "last_reply": r.last_reply}
            for r in message.recipients
        ],
        "audit": [
            {"at": a.at.isoformat(), "actor": a.actor, "event": a.event, "reason": a.reason} for a in message.audit
        ],
    }
    typer.echo(output.json_text(detail, indent=2))


@quarantine_app.command("release")
def release(
    queue_id: str,
    reason: str = typer.Option(..., "--reason", "-r", help="Why (kept in the audit log)"),
) -> None:
    """Deliver a quarantined or held message to its recipients (through the gateway's spool)."""
    from kakuri.act.release import release_message
    from kakuri.receive.shared_spool import spool_for
    from kakuri.store.quarantine import QuarantineError

    stores = _stores()
    try:
        message = release_message(
            stores=stores, spool=spool_for(state.settings(), engine=stores.engine), queue_id=queue_id,
            actor=current_actor(), reason=reason,
        )
    except QuarantineError as exc:
        _fail(exc)
    output.echo(f"{message.queue_id}: released; the running gateway delivers it within seconds")


@quarantine_app.command("delete")
def delete(
    queue_id: str,
    reason: str = typer.Option(..., "--reason", "-r", help="Why (kept in the audit log)"),
) -> None:
    """Drop a quarantined or held message and its stored copy (the record and audit log stay)."""
    from kakuri.store import quarantine

    stores = _stores()
    with stores.sessions() as session:
        try:
            quarantine.delete(session, queue_id=queue_id, actor=current_actor(), reason=reason, blobs=stores.blobs)
        except quarantine.QuarantineError as exc:
            _fail(exc)
    output.echo(f"{queue_id}: deleted")


def _summary(m) -> dict:
    return {
        "queue_id": m.queue_id,
        "received_at": m.received_at.isoformat(),
        "state": m.state,
        "message_id": m.message_id,
        "mail_from": m.mail_from,
        "rcpt_tos": [r.address for r in m.recipients],
        "subject": m.subject,
        "action": m.action,
        "score": m.score,
        "symbols": m.symbols,
    }


def register(app: typer.Typer) -> None:
    app.add_typer(quarantine_app, name="quarantine")
