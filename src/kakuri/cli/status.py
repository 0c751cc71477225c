"""`kakuri status`: the gateway nodes, their queues and heartbeats (PostgreSQL), or the one embedded node."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from kakuri.cli import output, state


def status(jsonl: bool = typer.Option(False, "--jsonl", help="One JSON object per node")) -> None:
    """Every gateway node with its queue and last heartbeat (alive or dead by [cluster] lease_seconds)."""
    from kakuri.store.config import open_stores

    settings = state.settings()
    stores = open_stores(settings)
    try:
        if stores.engine.dialect.name == "postgresql":
            _cluster(settings, stores.engine, jsonl)
        else:
            _embedded(settings, stores.engine, jsonl)
    finally:
        stores.close()


def _cluster(settings, engine, jsonl: bool) -> None:
    from kakuri.store.nodes import ClusterConfig, list_nodes

    lease = ClusterConfig.from_settings(settings).lease_seconds
    nodes, unowned = list_nodes(engine, lease_seconds=lease)
    rows = [
        {
            "node": n.node_id, "host": n.hostname, "pid": n.pid,
            "state": "stopped" if n.stopped else ("alive" if n.alive else "dead"),
            "heartbeat_age_seconds": round(n.heartbeat_age_seconds, 1), "heartbeat_at": n.heartbeat_at.isoformat(),
            "started_at": n.started_at.isoformat(), "queue": n.queue_size, "owned_entries": n.owned_entries,
        }
        for n in nodes
    ]
    if jsonl:
        for row in rows:
            typer.echo(output.json_text(row))
        typer.echo(output.json_text({"unowned_entries": unowned, "lease_seconds": lease}))
        return
    alive = sum(r["state"] == "alive" for r in rows)
    typer.echo(f"{len(rows)} node(s) on PostgreSQL, {alive} alive (lease {lease:g} s); "
               f"{unowned} spool entries waiting for a node to claim them")
    table = output.table("node", "host", "pid", "state", "last heartbeat", "queue", "owned entries", "started (UTC)")
    for row in rows:
        table.add_row(row["node"], row["host"], str(row["pid"]), row["state"], f"{row['heartbeat_age_seconds']:g} s ago",
                      str(row["queue"]), str(row["owned_entries"]), row["started_at"][:19])
    output.console().print(table)


def _embedded(settings, engine, jsonl: bool) -> None:
    from kakuri.receive.reload import PID_FILE
    from kakuri.receive.shared_spool import spool_for

    home = Path(settings.home)
    spool = spool_for(settings, engine=engine)
    pid = _running_pid(home / PID_FILE)
    row = {"node": "embedded (SQLite)", "state": "running" if pid else "not running", "pid": pid or 0,
           "queue": len(spool.queue_ids()), "queue_bytes": spool.total_bytes}
    if jsonl:
        typer.echo(output.json_text(row))
        return
    typer.echo(f"one embedded node (SQLite): gateway {row['state']}" + (f" (pid {pid})" if pid else "")
               + f"; spool: {row['queue']} entries, {row['queue_bytes']} bytes")


def _running_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text(encoding="utf-8").strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def register(app: typer.Typer) -> None:
    app.command("status")(status)
