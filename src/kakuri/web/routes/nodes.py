"""Gateway nodes: every `kakuri serve` sharing this PostgreSQL, its queue and last heartbeat (as `kakuri status`)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from kakuri.web.deps import DbDep, Viewer

api = APIRouter(tags=["nodes"])


class NodeOut(BaseModel):
    node_id: str
    hostname: str
    pid: int
    state: str  # alive | dead (heartbeat older than the lease) | stopped
    heartbeat_at: datetime
    heartbeat_age_seconds: float
    started_at: datetime
    queue: int  # spool entries the node last reported
    owned_entries: int  # spool entries it owns now (taken over by the others if it dies)


class NodesOut(BaseModel):
    shared: bool  # false: the embedded SQLite mode, one node, no registry
    lease_seconds: float
    unowned_entries: int  # releases and warnings no node has claimed yet
    nodes: list[NodeOut]


@api.get("/nodes", response_model=NodesOut, summary="Gateway nodes on the shared database, their queues and heartbeats")
def nodes_api(user: Viewer, db: DbDep, request: Request) -> NodesOut:
    from kakuri.store.nodes import ClusterConfig, list_nodes

    lease = ClusterConfig.from_settings(request.app.state.settings).lease_seconds
    engine = db.get_bind()
    if engine.dialect.name != "postgresql":
        return NodesOut(shared=False, lease_seconds=lease, unowned_entries=0, nodes=[])
    found, unowned = list_nodes(engine, lease_seconds=lease)
    return NodesOut(shared=True, lease_seconds=lease, unowned_entries=unowned, nodes=[
        NodeOut(node_id=n.node_id, hostname=n.hostname, pid=n.pid,
                state="stopped" if n.stopped else ("alive" if n.alive else "dead"), heartbeat_at=n.heartbeat_at,
                heartbeat_age_seconds=round(n.heartbeat_age_seconds, 1), started_at=n.started_at, queue=n.queue_size,
                owned_entries=n.owned_entries)
        for n in found
    ])
