"""`kakuri queue`: what is waiting in the spool for scanning or delivery, and why."""

from __future__ import annotations

import typer

from kakuri.cli import output, state


def queue(jsonl: bool = typer.Option(False, "--jsonl")) -> None:
    """Spool entries with their recipients' status, attempts, last reply and next attempt."""
    from kakuri.receive.shared_spool import spool_for
    from kakuri.receive.spool import Spool, process_folders
    from kakuri.store.config import open_stores
    from kakuri.store.messages import WAITING, Message

    settings = state.settings()
    stores = open_stores(settings)
    spool = spool_for(settings, engine=stores.engine)
    # `serve --processes N`: each acceptor process has its own folder (receive/supervisor.py)
    spools = [Spool(folder) for folder in process_folders(spool.root)] if isinstance(spool, Spool) else [spool]
    rows = []
    with stores.sessions() as session:
        for queue_id in (q for s in spools for q in s.queue_ids()):
            message = session.get(Message, queue_id)
            if message is None:
                why = "being scanned or delivered for the first time"
                rows.append({"queue_id": queue_id, "recipient": "", "status": "new", "why": why})
                continue
            for r in message.recipients:
                if r.status in WAITING:
                    rows.append(
                        {
                            "queue_id": queue_id,
                            "mail_from": message.mail_from,
                            "recipient": r.address,
                            "status": r.status,
                            "attempts": r.attempts,
                            "why": r.last_reply or "first attempt due",
                            "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
                        }
                    )
    if jsonl:
        for row in rows:
            typer.echo(output.json_text(row))
        return
    count, size = sum(len(s.queue_ids()) for s in spools), sum(s.total_bytes for s in spools)
    typer.echo(f"{count} spool entries, {size} bytes" + (f" in {len(spools)} process folders" if len(spools) > 1 else ""))
    table = output.table("queue id", "recipient", "status", "attempts", "next attempt (UTC)", "why")
    for row in rows:
        table.add_row(
            row["queue_id"],
            row["recipient"],
            row["status"],
            str(row.get("attempts", 0)),
            (row.get("next_attempt_at") or "")[:19],
            row["why"][:80],
        )
    output.console().print(table)


def register(app: typer.Typer) -> None:
    app.command("queue")(queue)
