"""Gateway nodes on one PostgreSQL: `[cluster]` settings, the registry row and heartbeat of a running node,
and the list `kakuri status` shows.

A node is alive while its heartbeat is younger than `lease_seconds` (database time, so clocks of different
machines do not matter). The shared spool (receive/shared_spool.py) lets the other nodes claim the
entries of a node whose lease ran out. The heartbeat runs on the node's event loop: a node whose loop is
stuck stops beating, as it should, since it is not working either.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.engine import Engine

from kakuri.settings import SettingsError

log = logging.getLogger(__name__)


class ClusterConfig(BaseModel):
    """`[cluster]`: only read in PostgreSQL mode."""

    model_config = ConfigDict(extra="forbid")
    node_id: str = ""  # "" = this machine's host name; must differ between nodes
    lease_seconds: float = Field(10.0, gt=0)  # a node silent this long is dead: the others take its mail
    heartbeat_seconds: float = Field(1.0, gt=0)
    claim_batch: int = Field(200, ge=1)  # entries one poll may take over (so that survivors share the work)

    @classmethod
    def from_settings(cls, settings) -> ClusterConfig:
        return cls.model_validate(settings.section("cluster"))


def node_id_for(settings, *, suffix: str = "") -> str:
    """This node's id: [cluster] node_id or the host name, plus e.g. "-2" for the second acceptor process."""
    base = ClusterConfig.from_settings(settings).node_id or socket.gethostname()
    return f"{base}{suffix}"


class NodeIdInUse(SettingsError):
    """Another live gateway registered under this node id (the CLI shows it as one line, exit 2)."""


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class NodeRegistry:
    """The row of one running node, refreshed every `heartbeat_seconds` with its queue size."""

    def __init__(self, engine: Engine, node_id: str, *, heartbeat_seconds: float = 1.0, lease_seconds: float = 10.0,
                 queue_size: Callable[[], int] = lambda: 0) -> None:
        self.engine, self.node_id, self.heartbeat_seconds = engine, node_id, heartbeat_seconds
        self.lease_seconds = lease_seconds
        self.queue_size = queue_size
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Register (a restart under the same id takes its row over) and beat from now on."""
        await asyncio.to_thread(self._register)
        self._task = asyncio.get_running_loop().create_task(self._beat_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.to_thread(self._execute, "UPDATE cluster_nodes SET stopped_at = now(), queue_size = 0 "
                                    "WHERE node_id = :node")
        except Exception:
            log.warning("node %s: could not record the stop", self.node_id, exc_info=True)

    def _register(self) -> None:
        self._check_unique()
        self._execute(
            "INSERT INTO cluster_nodes (node_id, hostname, pid, started_at, heartbeat_at, queue_size) "
            "VALUES (:node, :host, :pid, now(), now(), 0) ON CONFLICT (node_id) DO UPDATE SET hostname = :host, "
            "pid = :pid, started_at = now(), heartbeat_at = now(), stopped_at = NULL, queue_size = 0",
            host=socket.gethostname(), pid=os.getpid(),
        )

    def _check_unique(self) -> None:
        """Two live processes under one node id would both pass the delivery fence: refuse to start as the second.
        A restart of this node (same host, the old process gone) takes the id over at once."""
        with self.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT hostname, pid, stopped_at, EXTRACT(EPOCH FROM now() - heartbeat_at) AS age "
                "FROM cluster_nodes WHERE node_id = :node"), {"node": self.node_id}).first()
        if row is None or row.stopped_at is not None or float(row.age) >= self.lease_seconds:
            return
        same_host = row.hostname == socket.gethostname()
        if same_host and (row.pid == os.getpid() or not _running(row.pid)):
            return
        where = "this machine" if same_host else f"host {row.hostname}"
        raise NodeIdInUse(
            f"node id {self.node_id!r} is in use by a running gateway on {where} (pid {row.pid}, heartbeat "
            f"{float(row.age):.1f} s ago): give each node its own [cluster] node_id"
        )

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                size = self.queue_size()
            except Exception:  # e.g. the spool is still being opened: the heartbeat matters, the figure does not
                size = 0
            try:
                await asyncio.to_thread(self._execute, "UPDATE cluster_nodes SET heartbeat_at = now(), "
                                        "queue_size = :size WHERE node_id = :node", size=size)
            except Exception:  # the database is away: the others will take over after the lease, as they should
                log.warning("node %s: heartbeat failed", self.node_id, exc_info=True)

    def _execute(self, sql: str, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), {"node": self.node_id, **params})


@dataclass(frozen=True)
class NodeStatus:
    node_id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age_seconds: float
    stopped: bool
    alive: bool
    queue_size: int  # as the node last reported it
    owned_entries: int  # spool entries it owns now (what the others take over if it dies)


def list_nodes(engine: Engine, *, lease_seconds: float) -> tuple[list[NodeStatus], int]:
    """Every node with its queue, and the number of spool entries no node owns yet (releases, warnings)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT n.node_id, n.hostname, n.pid, n.started_at, n.heartbeat_at, n.stopped_at, n.queue_size, "
            "EXTRACT(EPOCH FROM now() - n.heartbeat_at) AS age, "
            "(SELECT count(*) FROM spool_entries s WHERE s.owner = n.node_id AND NOT s.corrupt) AS owned "
            "FROM cluster_nodes n ORDER BY n.node_id"
        )).all()
        unowned = conn.scalar(text("SELECT count(*) FROM spool_entries WHERE owner IS NULL AND NOT corrupt"))
    nodes = [
        NodeStatus(
            node_id=r.node_id, hostname=r.hostname, pid=r.pid, started_at=r.started_at, heartbeat_at=r.heartbeat_at,
            heartbeat_age_seconds=float(r.age), stopped=r.stopped_at is not None,
            alive=r.stopped_at is None and float(r.age) < lease_seconds, queue_size=r.queue_size,
            owned_entries=int(r.owned),
        )
        for r in rows
    ]
    return nodes, int(unowned or 0)
