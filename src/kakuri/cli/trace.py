"""`kakuri trace`: what happened to a mail, by sender, recipient, subject, Message-ID or time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer

from kakuri.cli import output, state

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 (naive = UTC) or relative to now: 30m, 2h, 7d."""
    if not value:
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: use ISO 8601 (2026-11-25T09:00) or 30m, 2h, 7d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def trace(
    sender: str | None = typer.Option(None, "--from", "--sender", help="Envelope sender contains"),
    recipient: str | None = typer.Option(None, "--to", "--rcpt", help="A recipient contains"),
    subject: str | None = typer.Option(None, "--subject", help="Subject contains"),
    message_id: str | None = typer.Option(None, "--message-id", help="Exact Message-ID (with or without <>)"),
    since: str | None = typer.Option(None, "--since", help="Received at or after (ISO time, or 2h, 7d)"),
    until: str | None = typer.Option(None, "--until", help="Received before"),
    state_: str | None = typer.Option(None, "--state", help="queued, delivered, quarantined, ..."),
    limit: int = typer.Option(200, "--limit"),
    jsonl: bool = typer.Option(False, "--jsonl", help="One JSON object per message and recipient"),
) -> None:
    """Find messages and show, per recipient, the verdict and what became of them."""
    from kakuri.store import trace as trace_store
    from kakuri.store.config import open_stores

    stores = open_stores(state.settings())
    with stores.sessions() as session:
        messages = trace_store.search(
            session,
            sender=sender,
            recipient=recipient,
            subject=subject,
            message_id=message_id,
            since=parse_time(since),
            until=parse_time(until),
            state=state_,
            limit=limit,
        )
        rows = list(trace_store.trace_rows(messages))
    if jsonl:
        for row in rows:
            typer.echo(output.json_text(row))
        return
    table = output.table("received (UTC)", "queue id", "from", "to", "subject", "action", "state", "recipient", "last reply")
    for row in rows:
        table.add_row(
            (row["received_at"] or "")[:19],
            row["queue_id"],
            row["mail_from"] or "<>",
            row["rcpt_to"],
            (row["subject"] or "")[:50],
            row["action"] or "",
            row["state"] + (f" (with {', '.join(row['related'])})" if row.get("related") else ""),  # a PPAP pair
            row["recipient_status"],
            (row["last_reply"] or "")[:60],
        )
    output.console().print(table)


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
