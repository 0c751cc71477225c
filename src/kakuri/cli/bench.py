"""`kakuri bench smtp`: a corpus sent to a real gateway for a fixed time, closed or open loop.

Closed loop (`--clients N`): N clients each send their next message when the last one was answered, so
a slow gateway slows its own load and hides its queueing. Open loop (`--rate R`): a message is due every
1/R seconds whatever happens, sent over a pool of connections, and latency counts from the time it was
due: this is how mail arrives from the Internet, and it shows the queue that builds past saturation.

The benchmark starts `kakuri serve` in a child process on a fresh data folder (loopback port, spool,
SQLite, the configured scan pool) with a sink next hop run here (aiosmtpd), so it measures the whole
path: SMTP, scan, fsynced spool, database, delivery. It reports accepted messages per second and the
end-to-end latency from our `250` to the message's final record (delivered at the sink, or
quarantined). The clients share the machine with the gateway: on 2 cores they cost it throughput.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import typer

bench_app = typer.Typer(help="Load benchmarks.", no_args_is_help=True)
_QUEUED = re.compile(r"queued as (\S+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load_corpus(corpus: Path) -> list[tuple[str, list[str], bytes]]:
    labels = corpus.parent / "labels.jsonl" if (corpus.parent / "labels.jsonl").exists() else corpus / "labels.jsonl"
    envelopes = {}
    if labels.exists():
        for line in labels.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            envelopes[Path(item["file"]).name] = item.get("envelope", {})
    out = []
    for path in sorted(corpus.glob("*.eml")):
        env = envelopes.get(path.name, {})
        out.append(
            (env.get("mail_from", "bench@example.net"), env.get("rcpt_to") or ["user@example.org"], path.read_bytes())
        )
    if not out:
        raise typer.BadParameter(f"no .eml files in {corpus}")
    return out


class _Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok"


async def _send(client, port: int, message, refused: list):
    """One message on `client` (a new connection when None): (the connection worth keeping, queue id of a 250)."""
    import aiosmtplib

    mail_from, rcpts, raw = message
    try:
        if client is None:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
            await client.connect()
        _, reply = await client.sendmail(mail_from, rcpts, raw)
        match = _QUEUED.search(reply)
        return client, match.group(1) if match else None
    except aiosmtplib.SMTPResponseException as exc:
        refused.append(exc.code)
        return client, None
    except (aiosmtplib.SMTPException, OSError):
        refused.append(0)
        return None, None


async def _quit(clients) -> None:
    import aiosmtplib

    for client in clients:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            pass


async def _client(port: int, corpus, offset: int, deadline: float, accepted: dict, refused: list) -> None:
    i = offset
    client = None
    while time.time() < deadline:
        before = len(refused)
        client, queue_id = await _send(client, port, corpus[i % len(corpus)], refused)
        i += 7  # clients walk the corpus at different offsets
        if queue_id:
            accepted[queue_id] = time.time()
        elif refused[before:] == [451]:
            await asyncio.sleep(0.05)
    await _quit([client] if client is not None else [])


async def _open_loop(port: int, corpus, rate: float, deadline: float, due_at: dict, refused: list) -> int:
    """One message due every 1/rate s; each is sent on a free pooled connection (a new one if none is free)."""
    idle: list = []
    pending: set[asyncio.Task] = set()

    async def send(index: int, due: float) -> None:
        client, queue_id = await _send(idle.pop() if idle else None, port, corpus[index % len(corpus)], refused)
        if queue_id:
            due_at[queue_id] = due
        if client is not None:
            idle.append(client)

    start, index = time.time(), 0
    while True:
        due = start + index / rate
        if due >= deadline:
            break
        await asyncio.sleep(max(0.0, due - time.time()))
        task = asyncio.ensure_future(send(index, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        index += 1
    if pending:
        await asyncio.wait(pending, timeout=120)
    await _quit(idle)
    return index


def _finished(db: Path, queue_ids) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT queue_id, finished_at FROM gw_messages WHERE finished_at IS NOT NULL").fetchall()
    wanted = set(queue_ids)
    return {
        q: datetime.fromisoformat(f).timestamp() if "+" in f else datetime.fromisoformat(f + "+00:00").timestamp()
        for q, f in rows
        if q in wanted
    }


async def _run(corpus, *, clients: int, rate: float | None, seconds: float, home: Path, workers: int, pool: str) -> dict:
    from aiosmtpd.controller import Controller

    sink_port, smtp_port = _free_port(), _free_port()
    sink = Controller(_Sink(), hostname="127.0.0.1", port=sink_port)
    sink.start()
    (home / "kakuri.toml").write_text(
        f'[org]\nour_domains = ["tokai-keiki.example", "tk-shoji.example", "tokaikeiki-asia.example"]\n'
        f'internal_networks = ["10.0.0.0/8"]\n'
        f'[smtp]\nrelay_check = false\nscan_workers = {workers}\nscan_pool = "{pool}"\n'
        f"[spool]\nmax_age_seconds = 120\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kakuri",
            "--home",
            str(home),
            "serve",
            "--smtp",
            f"127.0.0.1:{smtp_port}",
            "--next-hop",
            f"127.0.0.1:{sink_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(home / "gateway.log", "wb"),
    )
    try:
        await _wait_port(smtp_port, proc)
        accepted: dict[str, float] = {}
        refused: list[int] = []
        started, offered = time.time(), None
        if rate:  # accepted[q] = when the message was due
            offered = await _open_loop(smtp_port, corpus, rate, started + seconds, accepted, refused)
        else:  # accepted[q] = when our 250 arrived
            await asyncio.gather(
                *(_client(smtp_port, corpus, i, started + seconds, accepted, refused) for i in range(clients))
            )
        elapsed = time.time() - started
        finished: dict[str, float] = {}
        drain_deadline = time.time() + 120
        while time.time() < drain_deadline:
            finished = _finished(home / "kakuri.db", accepted)
            if len(finished) >= len(accepted):
                break
            await asyncio.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        sink.stop()
    latencies = sorted(max(finished[q] - t, 0.0) for q, t in accepted.items() if q in finished)
    return {
        "mode": f"open loop, {rate:g} msg/s offered, latency from due time" if rate else f"closed loop, {clients} clients, latency from 250",
        "seconds": round(elapsed, 1),
        **({"offered": offered} if offered is not None else {}),
        "accepted": len(accepted),
        "accepted_per_second": round(len(accepted) / elapsed, 1),
        "refused": {str(c): refused.count(c) for c in sorted(set(refused))},
        "finished": len(finished),
        "latency_p50_ms": round(_pct(latencies, 50) * 1000, 1),
        "latency_p99_ms": round(_pct(latencies, 99) * 1000, 1),
        "scan_pool": f"{pool} x{workers}",
        "cpus": os.cpu_count(),
    }


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * p / 100))]


async def _wait_port(port: int, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError("the gateway exited; see gateway.log in the bench folder")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not start listening")


@bench_app.command("smtp")
def smtp(
    corpus: Path = typer.Argument(Path("../shared/corpus/messages"), help="Folder of .eml files (labels.jsonl beside)"),
    clients: int = typer.Option(8, "--clients", "-c", help="Closed loop: concurrent clients"),
    rate: float | None = typer.Option(None, "--rate", "-r", help="Open loop: messages per second offered, whatever the replies"),
    seconds: float = typer.Option(20.0, "--seconds", "-t"),
    workers: int = typer.Option(2, "--workers", help="Scan processes of the gateway"),
    pool: str = typer.Option("process", "--pool", help="process or thread"),
    keep: Path | None = typer.Option(None, "--keep", help="Use (and keep) this data folder"),
) -> None:
    """Accepted msg/s and end-to-end p50/p99 latency to delivered-or-quarantined of a real gateway."""
    messages = _load_corpus(corpus)
    with tempfile.TemporaryDirectory(prefix="kakuri-bench-") as tmp:
        home = keep or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(_run(messages, clients=clients, rate=rate, seconds=seconds, home=home, workers=workers, pool=pool))
    typer.echo(json.dumps(result))


def register(app: typer.Typer) -> None:
    from kakuri.cli.bench_scan import scan

    bench_app.command("scan")(scan)
    from kakuri.cli.bench_retro import retro

    bench_app.command("retro")(retro)
    from kakuri.cli.bench_cluster import cluster

    bench_app.command("cluster")(cluster)  # several nodes on one PostgreSQL
    from kakuri.cli.bench_console import bench_console

    bench_app.command("console")(bench_console)
    app.add_typer(bench_app, name="bench")
