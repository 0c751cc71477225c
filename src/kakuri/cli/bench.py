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

`--processes N` runs `kakuri serve --processes N`; `--find-saturation` searches the highest open-loop rate
whose p99 stays under `--p99-ms` (250). Every result has the CPU time of the gateway's processes per
accepted message (acceptor processes and scan workers apart) and the load average before and after: on
a shared machine the rates are lower bounds, the CPU per message much less so. The corpus is sent once,
unmeasured, before the first measurement (scanners and ledgers are built on first use).
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


def sink_controller(port: int):
    """The next hop: aiosmtpd reading DATA in chunks as the gateway does (receive/smtp_data.py), not line by
    line: the corpus holds a 6.8 MB message, and the sink shares the CPU (and the latency) with the gateway."""
    from aiosmtpd.controller import Controller

    from kakuri.receive.smtp_data import FastDataSMTP

    class _Controller(Controller):
        def factory(self):
            return FastDataSMTP(self.handler, **self.SMTP_kwargs)

    return _Controller(_Sink(), hostname="127.0.0.1", port=port, decode_data=False, data_size_limit=0)


async def _send(client, port: int, message, refused: list):
    """One message on `client` (a new connection when None): (the connection worth keeping, queue id of a 250)."""
    import aiosmtplib

    from kakuri.receive.smtp_client import RelayClient

    mail_from, rcpts, raw = message
    try:
        if client is None:
            # The relay's client (aiosmtplib, DATA encoded at C speed): the load generator shares the CPU.
            client = RelayClient(hostname="127.0.0.1", port=port, timeout=60)
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


class _Gateway:
    """A sink next hop here and `kakuri serve` (with `processes` acceptor processes) in a child process on a
    fresh data folder; `measure` offers load and waits until every accepted message has its final record."""

    def __init__(self, corpus, *, home: Path, workers: int, pool: str, processes: int) -> None:
        self.corpus, self.home, self.processes = corpus, home, processes
        self.scan_pool = f"{pool} x{workers}" + (f" per process, {processes} processes" if processes != 1 else "")
        (home / "kakuri.toml").write_text(
            f'[org]\nour_domains = ["tokai-keiki.example", "tk-shoji.example", "tokaikeiki-asia.example"]\n'
            f'internal_networks = ["10.0.0.0/8"]\n'
            f'[smtp]\nrelay_check = false\nscan_workers = {workers}\nscan_pool = "{pool}"\n'
            f"[spool]\nmax_age_seconds = 120\n"
        )

    async def __aenter__(self) -> _Gateway:
        sink_port, self.port = _free_port(), _free_port()
        self.sink = sink_controller(sink_port)
        self.sink.start()
        command = [sys.executable, "-m", "kakuri", "--home", str(self.home), "serve", "--smtp", f"127.0.0.1:{self.port}",
                   "--next-hop", f"127.0.0.1:{sink_port}", "--processes", str(self.processes)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(self.home / "gateway.log", "wb"))
        try:
            await _wait_port(self.port, self.proc)
            await self._all_listening()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.sink.stop()

    async def _all_listening(self) -> None:
        """With several processes the first one listening is not enough: load must reach all of them."""
        log = self.home / "gateway.log"
        for _ in range(1800):
            if self.processes <= 1 or log.read_text(errors="replace").count("gateway listening") >= self.processes:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("the gateway exited; see gateway.log in the bench folder")
            await asyncio.sleep(0.1)
        raise RuntimeError("not every acceptor process started listening")

    async def warm_up(self) -> None:
        """Each corpus message once at a gentle rate, not measured: scanners, ledgers and the PPAP watcher are
        built on first use, a one-off cost that would otherwise land in the first measurement."""
        rate = 30.0
        await self.measure(rate=rate, seconds=len(self.corpus) / rate)

    async def measure(self, *, rate: float | None = None, clients: int = 8, seconds: float) -> dict:
        accepted: dict[str, float] = {}
        refused: list[int] = []
        cpu_before, load_before = _tree_cpu(self.proc.pid, self.processes), os.getloadavg()[0]
        started, offered = time.time(), None
        if rate:  # accepted[q] = when the message was due
            offered = await _open_loop(self.port, self.corpus, rate, started + seconds, accepted, refused)
        else:  # accepted[q] = when our 250 arrived
            await asyncio.gather(
                *(_client(self.port, self.corpus, i, started + seconds, accepted, refused) for i in range(clients))
            )
        elapsed = time.time() - started
        finished: dict[str, float] = {}
        drain_deadline = time.time() + 120
        while time.time() < drain_deadline:
            finished = _finished(self.home / "kakuri.db", accepted)
            if len(finished) >= len(accepted):
                break
            await asyncio.sleep(0.5)
        cpu_after, load_after = _tree_cpu(self.proc.pid, self.processes), os.getloadavg()[0]
        latencies = sorted(max(finished[q] - t, 0.0) for q, t in accepted.items() if q in finished)
        per_message = {role: round((cpu_after[role] - cpu_before[role]) * 1000 / max(len(accepted), 1), 2)
                       for role in cpu_after}
        return {
            "mode": f"open loop, {rate:g} msg/s offered, latency from due time" if rate
            else f"closed loop, {clients} clients, latency from 250",
            "seconds": round(elapsed, 1),
            **({"offered": offered} if offered is not None else {}),
            "accepted": len(accepted),
            "accepted_per_second": round(len(accepted) / elapsed, 1),
            "refused": {str(c): refused.count(c) for c in sorted(set(refused))},
            "finished": len(finished),
            "latency_p50_ms": round(_pct(latencies, 50) * 1000, 1),
            "latency_p99_ms": round(_pct(latencies, 99) * 1000, 1),
            # CPU of the gateway's processes per accepted message (robust to other load on the machine):
            # "gateway" = SMTP, delivery and records (the acceptor processes), "scan" = the scan workers.
            "cpu_ms_per_message": {**per_message, "total": round(sum(per_message.values()), 2)},
            "load_average_1min": [round(load_before, 2), round(load_after, 2)],
            "processes": self.processes,
            "scan_pool": self.scan_pool,
            "cpus": os.cpu_count(),
        }


def _tree_cpu(root: int, processes: int) -> dict[str, float]:
    """CPU seconds used so far by `kakuri serve` (pid `root`) and its descendants, by role: the acceptor
    processes (the root itself when it runs one gateway, its children under --processes) and the scan
    workers below them; the supervisor and multiprocessing's helpers count as "other"."""
    parents, cpu = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    depth = {root: 0}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if pid not in depth and parent in depth:
                depth[pid] = depth[parent] + 1
                changed = True
    gateway_depth = 0 if processes == 1 else 1
    roles = {"gateway": 0.0, "scan": 0.0, "other": 0.0}
    for pid, level in depth.items():
        role = "gateway" if level == gateway_depth else "scan" if level == gateway_depth + 1 else "other"
        if role == "scan" and cpu.get(pid, 0.0) < 0.5 and _is_tracker(pid):
            role = "other"
        roles[role] += cpu.get(pid, 0.0)
    return roles


def _is_tracker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"resource_tracker" in handle.read()
    except OSError:
        return False


async def _find_saturation(gateway: _Gateway, *, start: float, seconds: float, p99_ms: float) -> dict:
    """The highest offered rate whose messages all finish with p99 under `p99_ms` (open loop): rates grow by
    half until one fails, then three bisection steps between the last pass and the first failure."""
    probes: list[dict] = []

    async def passes(rate: float) -> bool:
        result = await gateway.measure(rate=rate, seconds=seconds)
        probes.append(result)
        return (result["latency_p99_ms"] < p99_ms and result["finished"] == result["accepted"]
                and result["accepted"] >= 0.99 * result["offered"])

    good, bad, rate = None, None, start
    while bad is None and rate <= 5000:
        if await passes(rate):
            good, rate = rate, rate * 1.5
        else:
            bad = rate
    while good is None and bad > 5:  # even the first rate failed: look lower
        rate = bad / 2
        if await passes(rate):
            good = rate
        else:
            bad = rate
    for _ in range(3):
        if good is None or bad is None or bad - good < 5:
            break
        middle = round((good + bad) / 2)
        if await passes(middle):
            good = middle
        else:
            bad = middle
    return {
        "saturation_rate": good,
        "first_failing_rate": bad,
        "p99_target_ms": p99_ms,
        "at_saturation": next((p for p in reversed(probes) if good is not None and p.get("offered") and
                               abs(p["offered"] / p["seconds"] - good) < 0.05 * good), None),
        "probes": [{k: p[k] for k in ("mode", "accepted_per_second", "latency_p50_ms", "latency_p99_ms",
                                      "cpu_ms_per_message", "load_average_1min")} for p in probes],
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
    workers: int = typer.Option(2, "--workers", help="Scan processes of each gateway process"),
    pool: str = typer.Option("process", "--pool", help="process or thread"),
    processes: int = typer.Option(1, "--processes", "-p", help="Gateway processes (kakuri serve --processes)"),
    find_saturation: bool = typer.Option(
        False, "--find-saturation", help="Open loop from --rate (default 50) up: the highest rate with p99 under --p99-ms"
    ),
    p99_ms: float = typer.Option(250.0, "--p99-ms", help="Latency bound of --find-saturation"),
    warm_up: bool = typer.Option(True, "--warm-up/--no-warm-up", help="Send the corpus once, unmeasured, first"),
    keep: Path | None = typer.Option(None, "--keep", help="Use (and keep) this data folder"),
) -> None:
    """Accepted msg/s, end-to-end p50/p99 latency to delivered-or-quarantined, and the gateway's CPU per message."""
    messages = _load_corpus(corpus)

    async def run(home: Path) -> dict:
        async with _Gateway(messages, home=home, workers=workers, pool=pool, processes=processes) as gateway:
            if warm_up:
                await gateway.warm_up()
            if find_saturation:
                return await _find_saturation(gateway, start=rate or 50.0, seconds=seconds, p99_ms=p99_ms)
            return await gateway.measure(rate=rate, clients=clients, seconds=seconds)

    with tempfile.TemporaryDirectory(prefix="kakuri-bench-") as tmp:
        home = keep or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run(home))
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
