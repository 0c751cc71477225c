"""`kakuri serve --processes N`: N whole gateways on one SMTP port, each in its own process, kept running.

One Python process cannot use more than about one core for SMTP, delivery and the record writes (the
interpreter lock), whatever the number of scan workers. So N acceptor processes each run a complete
`receive.server.Gateway` (listener, scan workers, delivery runner, group commit) and listen on the same
port with SO_REUSEPORT: the kernel spreads new connections over them. Every promise of one gateway holds
in each, because nothing is shared but the port and the database:

- each process owns its spool folder (`spool.process_folder`: process 0 the folder itself, where the CLI
  drops released mail; process i `<spool>/p<i>`), under an exclusive lock (`spool.FolderLock`). A
  process that dies (kill -9 included) is started again by the supervisor and resumes exactly its own
  entries; entries of processes beyond a smaller N are moved to process 0's folder before the start;
- on SQLite the processes are separate writers of one WAL database: each keeps its own group commit,
  and SQLite's busy handler queues their commits (30 s timeout); on PostgreSQL process i is the node
  `<node id>-<i>` of the cluster (store/nodes.py);
- the console (`--web`) and the background retro-scan run in process 0 only; SIGHUP is passed on to
  every process, and each re-reads kakuri.toml.

The supervisor itself only starts, watches and stops children: if it is killed, each child notices
within a second and stops, so a new supervisor never finds two owners for one spool folder.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path

from kakuri.receive.spool import SUFFIX, FolderLock, SpoolBusy, process_folder
from kakuri.store.blobs import fsync_dir

log = logging.getLogger(__name__)

QUICK_DEATH_SECONDS = 10.0  # a child that dies sooner is restarted with a growing delay (up to MAX_DELAY)
MAX_DELAY_SECONDS = 30.0
STOP_SECONDS = 30.0  # then children still running are killed


def default_processes() -> int:
    """One acceptor process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def adopt_orphans(spool_root: Path, processes: int) -> int:
    """Move entries of spool folders no process will own (a previous run had more processes) to process
    0's folder; returns how many. Run before the children start; a folder still locked is left alone."""
    moved = 0
    spool_root = Path(spool_root)
    for folder in sorted(spool_root.glob("p[0-9]*")):
        suffix = folder.name[1:]
        if not suffix.isdigit() or int(suffix) < processes or not folder.is_dir():
            continue
        try:
            lock = FolderLock(folder / ".lock", wait_seconds=0)
        except SpoolBusy as exc:
            log.error("%s; its entries stay there", exc)
            continue
        try:
            for path in sorted(folder.glob(f"*{SUFFIX}")):
                target = spool_root / path.name
                if not target.exists():
                    os.replace(path, target)
                    moved += 1
                notes = folder / "replies" / f"{path.stem}.json"  # receive/replay.py: the answer noted before a kill
                if notes.exists():
                    (spool_root / "replies").mkdir(exist_ok=True)
                    os.replace(notes, spool_root / "replies" / notes.name)
            fsync_dir(spool_root)
        finally:
            lock.release()
    if moved:
        log.warning("moved %d spool entries of acceptor processes no longer started to %s", moved, spool_root)
    return moved


def watch_parent(on_death: Callable[[], None]) -> None:
    """Call `on_death` (once) when the process that started this one is gone (a supervisor killed with -9
    tells nobody)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        on_death()

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


class Supervisor:
    """Starts `target(index, *args)` in `processes` spawned children and restarts the ones that die."""

    def __init__(self, target: Callable, args: tuple, *, processes: int) -> None:
        self.target, self.args, self.processes = target, args, processes
        self._context = multiprocessing.get_context("spawn")  # never fork an event loop or its threads
        self._children: dict[int, multiprocessing.Process] = {}
        self._started: dict[int, float] = {}
        self._delay: dict[int, float] = {}
        self._due: dict[int, float] = {}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()

    def run(self) -> None:
        """Until SIGTERM or SIGINT; then every child is stopped (SIGTERM, then SIGKILL after STOP_SECONDS)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._request_stop)
        signal.signal(signal.SIGHUP, self._forward)
        try:
            for index in range(self.processes):
                self._start(index)
            while not self._stop.is_set():
                self._watch()
        finally:
            self._stop_children()

    def pids(self) -> dict[int, int]:
        return {i: p.pid for i, p in self._children.items() if p.is_alive()}

    def _start(self, index: int) -> None:
        child = self._context.Process(target=self.target, args=(index, *self.args), name=f"kakuri-gateway-{index}")
        child.start()
        self._children[index] = child
        self._started[index] = time.monotonic()
        log.info("acceptor process %d started (pid %d)", index, child.pid)

    def _watch(self) -> None:
        now = time.monotonic()
        timeout = min([max(0.0, due - now) for due in self._due.values()] or [1.0])
        sentinels = [c.sentinel for c in self._children.values() if c.exitcode is None]
        wait([*sentinels, self._wake_r], timeout=timeout)
        if self._stop.is_set():
            return
        for index, child in list(self._children.items()):
            if index in self._due or child.is_alive():
                continue
            lived = time.monotonic() - self._started[index]
            delay = min(MAX_DELAY_SECONDS, self._delay.get(index, 0.5) * 2) if lived < QUICK_DEATH_SECONDS else 0.5
            self._delay[index] = delay
            self._due[index] = time.monotonic() + delay
            log.error("acceptor process %d (pid %d) exited with %s after %.0f s; starting it again in %.1f s",
                      index, child.pid, child.exitcode, lived, delay)
        for index, due in list(self._due.items()):
            if due <= time.monotonic():
                del self._due[index]
                self._start(index)

    def _request_stop(self, _signum, _frame) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")

    def _forward(self, signum, _frame) -> None:
        for child in self._children.values():
            if child.is_alive():
                os.kill(child.pid, signum)

    def _stop_children(self) -> None:
        for child in self._children.values():
            if child.is_alive():
                child.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for child in self._children.values():
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                log.error("acceptor process pid %d did not stop within %.0f s; killed", child.pid, STOP_SECONDS)
                child.kill()
                child.join(5)
