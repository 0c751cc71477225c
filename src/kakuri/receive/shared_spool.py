"""The spool in PostgreSQL, for several gateway nodes on one database; and the one place that picks the spool.

`spool_for` returns the folder spool (receive/spool.py) for the embedded SQLite mode and a `SharedSpool`
when the store is PostgreSQL, so every writer (SMTP accept, releases, warnings, DSNs) and every node see
the same entries. Same interface as `Spool`; the differences:

- Durable accept: `write` returns once the entry's INSERT has committed; concurrent writers share one
  transaction (`_GroupInsert`: while one commit runs, the next batch gathers), so the 250 still follows
  a durable copy, now one that survives the node.
- Ownership: an entry written by a node is owned by it; one written by a process that is no node (the CLI,
  a console without gateway) has no owner. Every poll (`refresh`) a node claims, with
  `SELECT ... FOR UPDATE SKIP LOCKED`, entries without owner and entries whose owner's heartbeat is older
  than the lease (store/nodes.py), so a release is delivered once, by whichever node took it, and what a
  dead node acknowledged is finished by the others.
- Fencing: `fence(queue_id)` locks the entry's row and checks this node still owns it; delivery runs and
  records its result while holding it. A node that stalled and comes back finds the entry taken over and
  drops it; a survivor cannot claim an entry while its owner is in the middle of delivering it (the lock
  goes when the owner's connection does, e.g. at kill -9). A node that restarts resumes the entries it
  still owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from kakuri.receive.spool import Spool, SpoolEntry

log = logging.getLogger(__name__)

MAX_INSERT_BATCH = 64
OWN_RESCAN_POLLS = 10
SHARED_SPOOL_THREADS = 32  # the gateway's default thread pool on the shared spool (see receive/server.py)


def spool_for(settings, *, engine: Engine | None = None, node_id: str | None = None, **spool_kwargs):
    """The spool of this data folder's store: `SharedSpool` on PostgreSQL (as node `node_id`, or as a plain
    writer/reader when None), else the spool folder ([spool] dir)."""
    from kakuri.receive.config import SpoolConfig
    from kakuri.store.config import StoreConfig
    from kakuri.store.db import make_engine

    if engine is None:
        url = StoreConfig.model_validate(settings.section("store")).url
        if url.startswith("postgresql"):
            engine = make_engine(url)
    if engine is not None and engine.dialect.name == "postgresql":
        from kakuri.store.nodes import ClusterConfig

        cluster = ClusterConfig.from_settings(settings)
        spool_kwargs.pop("owner", None)
        return SharedSpool(engine, node_id=node_id, lease_seconds=cluster.lease_seconds,
                           claim_batch=cluster.claim_batch, **spool_kwargs)
    folder = Path(settings.home) / SpoolConfig.model_validate(settings.section("spool")).dir
    return Spool(folder, **spool_kwargs)


def spool_at(engine: Engine, folder: Path | None):
    """For a writer that is no node (a console without gateway, the CLI) and knows its store and spool folder."""
    return SharedSpool(engine) if engine.dialect.name == "postgresql" else Spool(folder)


class SharedSpool:
    def __init__(
        self,
        engine: Engine,
        *,
        node_id: str | None = None,
        lease_seconds: float = 10.0,
        claim_batch: int = 200,
        max_bytes: int = 1 << 62,
        max_age_seconds: float = float("inf"),
    ) -> None:
        self.engine, self.node_id = engine, node_id
        self.lease_seconds, self.claim_batch = lease_seconds, claim_batch
        self.max_bytes, self.max_age_seconds = max_bytes, max_age_seconds
        self.quarantine_dir = "the spool_entries table (corrupt = true)"  # where unreadable entries are set aside
        self._lock = threading.Lock()
        self._sizes: dict[str, int] = {}  # entries this node owns and knows (a node's own backlog)
        self._total = 0
        self._unstarted: dict[str, float] = {}
        self._inserts = _GroupInsert(engine, owner=node_id)
        self._deletes = _GroupDelete(engine, owner=node_id)
        self._polls = 0
        if node_id is not None:
            self.refresh()

    # -- writing and reading one entry ------------------------------------------------------------
    def write(self, entry: SpoolEntry) -> bool:
        """Store durably (committed). False when an entry with this id already exists; OSError when the
        database cannot take it (the SMTP side then answers 451, as for a full disk)."""
        data = entry.to_bytes()
        mine = self.node_id is not None and self._know(entry.queue_id, len(data), time.time())
        try:
            inserted = self._inserts.insert(entry.queue_id, data)
        except BaseException as exc:
            if mine:
                self.forget(entry.queue_id)
            if isinstance(exc, SQLAlchemyError):
                raise OSError(f"the shared spool cannot store {entry.queue_id}: {exc}") from exc
            raise
        if not inserted and mine:
            self.forget(entry.queue_id)
        return inserted

    def read(self, queue_id: str) -> SpoolEntry:
        """The entry; FileNotFoundError when it is gone or (for a node) another node owns it now."""
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT data, owner, corrupt FROM spool_entries WHERE queue_id = :q"),
                               {"q": queue_id}).first()
        if row is None or row.corrupt or (self.node_id is not None and row.owner != self.node_id):
            self.forget(queue_id)
            raise FileNotFoundError(queue_id)
        return SpoolEntry.from_bytes(bytes(row.data))

    def exists(self, queue_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.scalar(text("SELECT 1 FROM spool_entries WHERE queue_id = :q"), {"q": queue_id}) is not None

    def remove(self, queue_id: str) -> None:
        """Delete the entry if this node still owns it (a node that lost it leaves it to the new owner).

        A node's deletes are batched by a thread of their own and the caller (the event loop) does not wait:
        as with the folder spool's unsynced unlink, an entry whose delete a crash undoes is processed
        again, finds every recipient final, and is removed again."""
        if self.node_id is None:
            with self.engine.begin() as conn:
                conn.execute(text("DELETE FROM spool_entries WHERE queue_id = :q"), {"q": queue_id})
        else:
            self._deletes.put(queue_id)  # first: a rescan of our own entries must not see it as a stray
        self.forget(queue_id)

    def set_aside(self, queue_id: str) -> None:
        """An unreadable entry stays in the table for a human, out of every node's way."""
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE spool_entries SET corrupt = true, owner = NULL WHERE queue_id = :q"),
                         {"q": queue_id})
        self.forget(queue_id)

    @contextlib.asynccontextmanager
    async def fence(self, queue_id: str):
        """Hold the entry's row while delivering and recording it; yields False when it is no longer ours."""
        if self.node_id is None:
            yield True
            return
        conn = await asyncio.to_thread(self._lock_if_mine, queue_id)
        if conn is None:
            self.forget(queue_id)
            yield False
            return
        try:
            yield True
        finally:
            await asyncio.to_thread(_close, conn)

    def _lock_if_mine(self, queue_id: str) -> Connection | None:
        conn = self.engine.connect()
        try:
            conn.begin()
            owner = conn.scalar(
                text("SELECT owner FROM spool_entries WHERE queue_id = :q FOR UPDATE SKIP LOCKED"), {"q": queue_id}
            )
        except BaseException:
            _close(conn)
            raise
        if owner != self.node_id:
            _close(conn)
            return None
        return conn

    # -- what this node works on ------------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Entries this node takes on now: at start (a restart) and every OWN_RESCAN_POLLS polls its own that it
        does not know (e.g. an INSERT whose commit went through while its writer saw an error), and every poll
        those without a living owner (claimed under row locks, so two nodes never take the same one)."""
        if self.node_id is None:
            return []
        found: list[tuple[str, int]] = []
        with self.engine.begin() as conn:
            if self._polls % OWN_RESCAN_POLLS == 0:
                deleting = self._deletes.pending()  # finished, their delete not yet committed
                found += [row for row in conn.execute(text(
                    "SELECT queue_id, size FROM spool_entries WHERE owner = :me AND NOT corrupt ORDER BY queue_id"
                ), {"me": self.node_id}).all() if row[0] not in deleting]
            self._polls += 1
            found += conn.execute(text(
                "UPDATE spool_entries SET owner = :me WHERE queue_id IN ("
                " SELECT s.queue_id FROM spool_entries s WHERE NOT s.corrupt AND (s.owner IS NULL OR ("
                "  s.owner <> :me AND NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node_id = s.owner"
                "   AND n.stopped_at IS NULL AND n.heartbeat_at >= now() - make_interval(secs => :lease))))"
                " ORDER BY s.queue_id LIMIT :batch FOR UPDATE OF s SKIP LOCKED)"
                " RETURNING queue_id, size"
            ), {"me": self.node_id, "lease": self.lease_seconds, "batch": self.claim_batch}).all()
        now = time.time()
        fresh = [queue_id for queue_id, size in sorted(found) if self._know(queue_id, size, now)]
        if fresh:
            log.info("node %s took on %d spool entries", self.node_id, len(fresh))
        return fresh

    def release_all(self) -> int:
        """At a clean stop: give this node's entries back, so the other nodes take them at once."""
        if self.node_id is None:
            return 0
        self._deletes.close()  # finished entries go first, so that nobody processes them again
        with self.engine.begin() as conn:
            released = conn.execute(text("UPDATE spool_entries SET owner = NULL WHERE owner = :me"),
                                    {"me": self.node_id}).rowcount
        with self._lock:
            self._sizes.clear()
            self._unstarted.clear()
            self._total = 0
        return released

    def close(self) -> None:
        self._inserts.close()
        self._deletes.close()

    # -- in-memory backlog (backpressure), as in Spool -----------------------------------------------
    def _know(self, queue_id: str, size: int, at: float) -> bool:
        with self._lock:
            if queue_id in self._sizes:
                return False
            self._sizes[queue_id] = size
            self._total += size
            self._unstarted[queue_id] = at
            return True

    def forget(self, queue_id: str) -> None:
        with self._lock:
            self._total -= self._sizes.pop(queue_id, 0)
            self._unstarted.pop(queue_id, None)

    def mark_started(self, queue_id: str) -> None:
        with self._lock:
            self._unstarted.pop(queue_id, None)

    def queue_ids(self) -> list[str]:
        if self.node_id is None:  # the CLI's view: every entry of every node
            with self.engine.connect() as conn:
                return list(conn.scalars(text("SELECT queue_id FROM spool_entries WHERE NOT corrupt ORDER BY 1")))
        with self._lock:
            return sorted(self._sizes)

    @property
    def total_bytes(self) -> int:
        if self.node_id is None:
            with self.engine.connect() as conn:
                return int(conn.scalar(text("SELECT coalesce(sum(size), 0) FROM spool_entries WHERE NOT corrupt")))
        with self._lock:
            return self._total

    def overload(self) -> str | None:
        with self._lock:
            if self._total >= self.max_bytes:
                return "full"
            oldest = next(iter(self._unstarted.values()), None)
            if oldest is not None and time.time() - oldest > self.max_age_seconds:
                return "behind"
        return None


def _close(conn: Connection) -> None:
    try:
        conn.rollback()
    finally:
        conn.close()


class _GroupInsert:
    """INSERTs of concurrent writers in one transaction: each `insert` returns after the commit holding it."""

    def __init__(self, engine: Engine, *, owner: str | None) -> None:
        self.engine, self.owner = engine, owner
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def insert(self, queue_id: str, data: bytes) -> bool:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="spool-insert")
                self._thread.start()
        done: Future = Future()
        self._jobs.put((queue_id, data, done))
        return done.result()

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_INSERT_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)
                    break
                batch.append(job)
            self._commit(batch)

    def _commit(self, batch: list) -> None:
        # One id twice in a batch (a replayed DSN, say) would make ON CONFLICT see its own row: first wins.
        unique: dict[str, tuple] = {}
        for job in batch:
            unique.setdefault(job[0], job)
        try:
            with self.engine.begin() as conn:
                inserted = set(conn.scalars(text(
                    "INSERT INTO spool_entries (queue_id, data, size, owner) "
                    "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:datas AS bytea[]), CAST(:sizes AS int[]), "
                    "CAST(:owners AS text[])) ON CONFLICT (queue_id) DO NOTHING RETURNING queue_id"
                ), {
                    "ids": list(unique),
                    "datas": [job[1] for job in unique.values()],
                    "sizes": [len(job[1]) for job in unique.values()],
                    "owners": [self.owner] * len(unique),
                }))
        except BaseException as exc:
            for _, _, done in batch:
                done.set_exception(exc)
            return
        for queue_id, _, done in batch:
            done.set_result(queue_id in inserted and unique[queue_id][2] is done)


class _GroupDelete:
    """Deletes of finished entries, many per statement, in the background."""

    def __init__(self, engine: Engine, *, owner: str | None) -> None:
        self.engine, self.owner = engine, owner
        self._ids: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._pending: set[str] = set()

    def put(self, queue_id: str) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="spool-delete")
                self._thread.start()
            self._pending.add(queue_id)
        self._ids.put(queue_id)

    def pending(self) -> set[str]:
        with self._start_lock:
            return set(self._pending)

    def close(self) -> None:
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._ids.put(None)
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._ids.get()
            batch = [] if first is None else [first]
            while first is not None and len(batch) < 500:
                try:
                    more = self._ids.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    first = None
                    break
                batch.append(more)
            if batch:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(text("DELETE FROM spool_entries WHERE queue_id = ANY(:ids) AND owner = :me"),
                                     {"ids": batch, "me": self.owner})
                except Exception:  # left in the table: processed again later (all final) and removed then
                    log.warning("could not delete %d finished spool entries", len(batch), exc_info=True)
                with self._start_lock:
                    self._pending.difference_update(batch)
            if first is None:
                return
