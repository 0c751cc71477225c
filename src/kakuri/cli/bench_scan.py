"""`kakuri bench scan CORPUS`: full-analysis throughput (parse, unpack, every detector, decide) on all cores."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import typer

from kakuri.cli import output, state
from kakuri.cli.inputs import iter_messages
from kakuri.cli.scan import envelope_from_headers
from kakuri.model.knowledge import StaticKnowledge


def scan(
    paths: list[Path] = typer.Argument(..., help="Messages to scan (files, folders, mbox), e.g. ../shared/corpus/messages"),
    seconds: float = typer.Option(20.0, "--seconds", help="Keep scanning the set over and over for this long"),
    workers: int = typer.Option(os.cpu_count() or 1, "--workers", help="Scanner processes"),
) -> None:
    """Messages per second of the complete scan, with the data folder's knowledge, on N processes."""
    from kakuri.workers import ScanPool

    settings = state.settings()
    knowledge = StaticKnowledge(settings.org.our_domains)
    items = [(m.raw, envelope_from_headers(m.raw, knowledge)) for m in iter_messages(paths)]
    if not items:
        raise typer.BadParameter("no messages found")
    console = output.console()
    with ScanPool(settings.home, workers) as pool:
        list(pool.map(items[: workers * 4]))  # start the workers and warm their caches
        done, started, cpu_before = 0, time.perf_counter(), os.times()
        while time.perf_counter() - started < seconds:
            for _ in pool.map(items):
                done += 1
        elapsed = time.perf_counter() - started
    cpu = os.times()  # after the pool is shut down: children's CPU time counts once they are reaped
    child_cpu = (cpu.children_user + cpu.children_system) - (cpu_before.children_user + cpu_before.children_system)
    console.print(
        f"{done} messages in {elapsed:.1f} s: {done / elapsed:.0f} msg/s with {workers} worker(s) "
        f"({len(items)} distinct messages, {sum(len(r) for r, _ in items) / len(items) / 1024:.0f} KiB average) "
        f"on {platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
        + (f"; {child_cpu / done * 1000:.2f} ms CPU per message" if child_cpu > 0 else "")
    )
