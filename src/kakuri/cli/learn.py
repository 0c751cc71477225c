"""`kakuri learn PATH...`: feed earlier mail (.eml, folders, mbox, Maildir) into the thread ledger."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from kakuri.cli import output, state

BATCH = 500


def learn(paths: List[Path] = typer.Argument(..., help="Mail files, folders (Maildir too) or mbox files")) -> None:
    """Record earlier mail: threads (who took part) and the contact graph (who wrote to whom)."""
    from kakuri.cli.inputs import InputError, count_messages, iter_messages
    from kakuri.cli.progress import progress_bar
    from kakuri.parse.mime import parse_message
    from kakuri.store.knowledge import load_knowledge

    knowledge = load_knowledge(state.settings())
    seen = new = 0
    batch = []
    try:
        with progress_bar("learning", count_messages(paths)) as advance:
            for item in iter_messages(paths):
                batch.append((parse_message(item.raw), None))
                seen += 1
                advance(1)
                if len(batch) >= BATCH:
                    new += knowledge.record_many(batch)
                    batch.clear()
            new += knowledge.record_many(batch)
    except InputError as exc:
        raise output.fail(exc, 2) from exc
    threads = knowledge.thread_count()
    typer.echo(f"read {seen} message(s), {new} new; ledger: {threads} thread(s)")


def register(app: typer.Typer) -> None:
    app.command("learn")(learn)
