"""Typer root: global options and the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kakuri.cli import state
from kakuri.cli.errors import ClearErrors

app = typer.Typer(
    name="kakuri",
    help="kakuri (隔離): mail-security gateway and outbreak-response toolkit.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=ClearErrors,  # a database that is down or a bad config value: one line, not a traceback
)


@app.callback()
def main(
    home: Optional[Path] = typer.Option(
        None, "--home", envvar="KAKURI_HOME", help="Data folder (config, database, rules). Default ./kakuri-data"
    ),
) -> None:
    state.HOME = home


def _register() -> None:
    from kakuri.cli import emergency, evaluate, incident, scan

    scan.register(app)
    evaluate.register(app)
    emergency.register(app)
    incident.register(app)
    from kakuri.cli import directory, init, learn

    init.register(app)
    directory.register(app)
    learn.register(app)
    from kakuri.cli import hunt

    hunt.register(app)
    from kakuri.cli import bench, quarantine, queue, serve, trace

    serve.register(app)
    queue.register(app)
    quarantine.register(app)
    trace.register(app)
    bench.register(app)
    from kakuri.cli import user

    user.register(app)
    from kakuri.cli import postfix

    postfix.register(app)
    from kakuri.cli import release

    release.register(app)
    from kakuri.cli import clawback, retro

    retro.register(app)  # retention, iocs, retro-scan
    clawback.register(app)
    from kakuri.cli import status

    status.register(app)  # gateway nodes, queues, heartbeats
    from kakuri.cli import rules

    rules.register(app)  # rules reload


_register()
