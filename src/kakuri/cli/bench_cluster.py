"""`kakuri bench cluster`: N gateway nodes (`kakuri serve` children) on one PostgreSQL, load spread over them.

Each node gets its own data folder, SMTP port and scan pool; all share a fresh database created on the
given server (dropped afterwards unless --keep-db), so spool entries, records and blobs of every node go
to one PostgreSQL. The load is the corpus, open loop (`--rate R`: R/N msg/s offered to each node, latency
from the due time) or closed loop (`--clients C` per node, latency from the 250), and the latency ends at
the message's final record (delivered at the sink run here, or quarantined). It also reports the CPU the
nodes (with their scan workers) and, when the server runs on this machine, PostgreSQL spent per message:
figures that stay meaningful on a machine shared with other work, unlike the rates.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import typer

from kakuri.cli.bench import _client, _free_port, _load_corpus, _open_loop, _pct, _Sink, _wait_port


def cluster(
    url: str = typer.Option(..., "--url", help="PostgreSQL server, e.g. postgresql+psycopg://postgres@127.0.0.1:5432"),
    corpus: Path = typer.Argument(Path("../shared/corpus/messages"), help="Folder of .eml files (labels.jsonl beside)"),
    nodes: int = typer.Option(2, "--nodes", "-n", help="Gateway nodes"),
    rate: float | None = typer.Option(None, "--rate", "-r", help="Open loop: messages per second offered in all"),
    clients: int = typer.Option(4, "--clients", "-c", help="Closed loop: concurrent clients per node"),
    seconds: float = typer.Option(20.0, "--seconds", "-t"),
    workers: int = typer.Option(1, "--workers", help="Scan processes per node"),
    pool: str = typer.Option("process", "--pool", help="process or thread"),
    keep_db: bool = typer.Option(False, "--keep-db", help="Keep the benchmark database"),
) -> None:
    """Combined accepted msg/s, p50/p99 latency to delivered-or-quarantined, CPU per message of N nodes."""
    messages = _load_corpus(corpus)
    server = url.replace("postgresql://", "postgresql+psycopg://", 1).rstrip("/")
    database = f"kakuri_bench_{uuid.uuid4().hex[:10]}"
    _admin(server, f'CREATE DATABASE "{database}"')
    try:
        with tempfile.TemporaryDirectory(prefix="kakuri-bench-cluster-") as tmp:
            result = asyncio.run(_run(messages, url=f"{server}/{database}", nodes=nodes, rate=rate, clients=clients,
                                      seconds=seconds, root=Path(tmp), workers=workers, pool=pool))
    finally:
        if not keep_db:
            _admin(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    typer.echo(json.dumps(result))


def _admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server.replace('postgresql+psycopg', 'postgresql')}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _write_home(home: Path, *, url: str, node_id: str, workers: int, pool: str) -> None:
    home.mkdir(parents=True)
    (home / "kakuri.toml").write_text(
        '[org]\nour_domains = ["tokai-keiki.example", "tk-shoji.example", "tokaikeiki-asia.example"]\n'
        'internal_networks = ["10.0.0.0/8"]\n'
        f'[store]\nurl = "{url}"\n'
        f'[smtp]\nrelay_check = false\nscan_workers = {workers}\nscan_pool = "{pool}"\n'
        "[spool]\nmax_age_seconds = 120\n"
        f'[cluster]\nnode_id = "{node_id}"\n'
    )


async def _run(corpus, *, url: str, nodes: int, rate: float | None, clients: int, seconds: float, root: Path,
               workers: int, pool: str) -> dict:
    from aiosmtpd.controller import Controller
    from sqlalchemy import create_engine, text

    from kakuri.settings import load_settings
    from kakuri.store.config import open_stores

    homes = [root / f"node{i}" for i in range(nodes)]
    for i, home in enumerate(homes):
        _write_home(home, url=url, node_id=f"bench-{i}", workers=workers, pool=pool)
    open_stores(load_settings(homes[0])).close()  # migrate once, before the nodes start
    engine = create_engine(url)
    db_cpu_before = _postgres_cpu(engine)
    sink_port, ports = _free_port(), [_free_port() for _ in homes]
    sink = Controller(_Sink(), hostname="127.0.0.1", port=sink_port)
    sink.start()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kakuri", "--home", str(home), "serve", "--smtp", f"127.0.0.1:{port}",
             "--next-hop", f"127.0.0.1:{sink_port}"],
            stdout=subprocess.DEVNULL, stderr=open(home / "gateway.log", "wb"),
        )
        for home, port in zip(homes, ports, strict=True)
    ]
    try:
        for port, proc in zip(ports, procs, strict=True):
            await _wait_port(port, proc)
        accepted: list[dict[str, float]] = [{} for _ in homes]
        refused: list[int] = []
        started = time.time()
        deadline = started + seconds
        if rate:
            offered = sum(await asyncio.gather(*(
                _open_loop(port, corpus[i::nodes] or corpus, rate / nodes, deadline, accepted[i], refused)
                for i, port in enumerate(ports)
            )))
        else:
            offered = None
            await asyncio.gather(*(
                _client(port, corpus, i * 11 + c, deadline, accepted[i], refused)
                for i, port in enumerate(ports) for c in range(clients)
            ))
        elapsed = time.time() - started
        everything = {q: t for per_node in accepted for q, t in per_node.items()}
        finished: dict[str, float] = {}
        drain_deadline = time.time() + 120
        while time.time() < drain_deadline:
            finished = _finished(engine, everything)
            if len(finished) >= len(everything):
                break
            await asyncio.sleep(0.5)
        load = os.getloadavg()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        sink.stop()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    db_cpu = _postgres_cpu(engine) - db_cpu_before if db_cpu_before is not None else None
    with engine.connect() as conn:
        left = conn.scalar(text("SELECT count(*) FROM spool_entries"))
    engine.dispose()
    node_cpu = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    latencies = sorted(max(finished[q] - t, 0.0) for q, t in everything.items() if q in finished)
    done = max(len(finished), 1)
    return {
        "nodes": nodes,
        "mode": (f"open loop, {rate:g} msg/s offered in all, latency from due time" if rate
                 else f"closed loop, {clients} clients per node, latency from 250"),
        "seconds": round(elapsed, 1),
        **({"offered": offered} if offered is not None else {}),
        "accepted": len(everything),
        "accepted_per_node": [len(a) for a in accepted],
        "accepted_per_second": round(len(everything) / elapsed, 1),
        "refused": {str(c): refused.count(c) for c in sorted(set(refused))},
        "finished": len(finished),
        "spool_entries_left": left,
        "latency_p50_ms": round(_pct(latencies, 50) * 1000, 1),
        "latency_p99_ms": round(_pct(latencies, 99) * 1000, 1),
        "node_cpu_ms_per_message": round(node_cpu * 1000 / done, 2),
        **({"postgres_cpu_ms_per_message": round(db_cpu * 1000 / done, 2)} if db_cpu is not None else {}),
        "scan_pool": f"{pool} x{workers} per node",
        "cpus": os.cpu_count(),
        "loadavg_1m": round(load[0], 2),
    }


def _finished(engine, queue_ids) -> dict[str, float]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT queue_id, finished_at FROM gw_messages WHERE finished_at IS NOT NULL")).all()
    wanted = set(queue_ids)
    return {q: f.timestamp() for q, f in rows if q in wanted}


def _postgres_cpu(engine) -> float | None:
    """CPU seconds of the PostgreSQL server so far (postmaster plus its finished backends), when it runs here."""
    from sqlalchemy import text

    try:
        with engine.connect() as conn:
            backend = conn.scalar(text("SELECT pg_backend_pid()"))
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        total = 0.0
        for pid in [postmaster, *_children(postmaster)]:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) if pid == postmaster else sum(int(v) for v in fields[11:13])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found
