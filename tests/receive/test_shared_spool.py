"""The shared spool on a real PostgreSQL: durable group-committed writes, claims, takeover by lease, fencing."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import text

from kakuri.model.envelope import Envelope
from kakuri.receive.shared_spool import SharedSpool, spool_at
from kakuri.receive.spool import Spool, SpoolEntry, new_queue_id
from kakuri.settings import load_settings
from kakuri.store.config import open_stores
from tests.store.conftest import postgres_server, postgres_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.postgres

LEASE = 1.0


@pytest.fixture
def engine(tmp_path, postgres_url):  # noqa: F811
    settings = load_settings(tmp_path / "kakuri-data")
    settings.__pydantic_extra__["store"] = {"url": postgres_url}
    stores = open_stores(settings)
    yield stores.engine
    stores.close()


def entry(queue_id: str | None = None) -> SpoolEntry:
    return SpoolEntry(queue_id=queue_id or new_queue_id(), envelope=Envelope(mail_from="a@x.example", rcpt_tos=("b@y.example",)),
                      raw=b"Subject: hi\r\n\r\nbody\r\n", received_at=time.time())


def beat(engine, node: str, *, age: float = 0.0) -> None:
    """The registry row of `node`, with a heartbeat `age` seconds old."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO cluster_nodes (node_id, heartbeat_at) VALUES (:n, now() - make_interval(secs => :age)) "
            "ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at"), {"n": node, "age": age})


def node(engine, name: str) -> SharedSpool:
    beat(engine, name)
    return SharedSpool(engine, node_id=name, lease_seconds=LEASE)


def test_concurrent_writes_are_all_committed_and_a_second_write_of_an_id_is_refused(engine):
    spool = node(engine, "n1")
    entries = [entry() for _ in range(40)]
    results: list[bool] = []
    threads = [threading.Thread(target=lambda e=e: results.append(spool.write(e))) for e in entries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 40
    assert spool.write(entries[0]) is False
    assert sorted(spool.queue_ids()) == sorted(e.queue_id for e in entries)
    assert SharedSpool(engine).read(entries[3].queue_id).raw == entries[3].raw  # committed, seen by another reader


def test_unowned_entries_are_claimed_by_exactly_one_node(engine):
    writer = spool_at(engine, folder=None)
    assert isinstance(writer, SharedSpool) and writer.node_id is None
    a, b = node(engine, "a"), node(engine, "b")
    ids = {e.queue_id for e in (entry() for _ in range(30)) if writer.write(e)}
    taken: dict[str, list[str]] = {}

    def claim(spool):
        taken[spool.node_id] = spool.refresh() + spool.refresh()

    threads = [threading.Thread(target=claim, args=(s,)) for s in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(taken["a"]) | set(taken["b"]) == ids
    assert not set(taken["a"]) & set(taken["b"])


def test_a_dead_nodes_entries_go_to_a_survivor_and_the_stalled_node_is_fenced_off(engine):
    stalled, survivor = node(engine, "stalled"), node(engine, "survivor")
    mine = entry()
    assert stalled.write(mine)
    assert survivor.refresh() == []  # the owner is alive
    beat(engine, "stalled", age=LEASE + 1)  # its heartbeat stops
    assert survivor.refresh() == [mine.queue_id]

    async def deliver_as(spool):
        async with spool.fence(mine.queue_id) as ours:
            return ours

    assert asyncio.run(deliver_as(stalled)) is False  # back from its stall: it must not deliver
    assert mine.queue_id not in stalled.queue_ids()
    with pytest.raises(FileNotFoundError):
        stalled.read(mine.queue_id)
    stalled.remove(mine.queue_id)  # not its entry any more: left alone
    stalled.close()  # (deletes are batched in the background; close waits for them)
    assert asyncio.run(deliver_as(survivor)) is True
    survivor.remove(mine.queue_id)
    survivor.close()
    assert not survivor.exists(mine.queue_id)


def test_an_entry_being_delivered_is_not_taken_over_until_its_owner_lets_go(engine):
    owner, other = node(engine, "owner"), node(engine, "other")
    busy = entry()
    owner.write(busy)

    async def scenario():
        async with owner.fence(busy.queue_id) as ours:
            assert ours
            beat(engine, "owner", age=LEASE + 1)  # looks dead while it is in the middle of the delivery
            assert await asyncio.to_thread(other.refresh) == []  # row locked: skipped
        return await asyncio.to_thread(other.refresh)

    assert asyncio.run(scenario()) == [busy.queue_id]


def test_a_restarted_node_resumes_only_what_it_still_owns(engine):
    first = node(engine, "n")
    taken, kept = entry(), entry()  # queue ids sort by arrival: a claim takes `taken` first
    first.write(taken)
    first.write(kept)
    beat(engine, "n", age=LEASE + 1)  # "n" dies
    beat(engine, "thief")
    thief = SharedSpool(engine, node_id="thief", lease_seconds=LEASE, claim_batch=1)  # took one before "n" came back
    assert thief.queue_ids() == [taken.queue_id]
    again = node(engine, "n")
    assert again.queue_ids() == [kept.queue_id]
    assert thief.refresh() == []  # "n" is alive again: its entry stays with it


def test_release_all_hands_the_entries_to_the_others_at_a_clean_stop(engine):
    leaving, staying = node(engine, "leaving"), node(engine, "staying")
    left = entry()
    leaving.write(left)
    assert leaving.release_all() == 1
    assert staying.refresh() == [left.queue_id]


def test_the_folder_spool_is_chosen_for_sqlite(tmp_path):
    settings = load_settings(tmp_path / "kakuri-data")
    stores = open_stores(settings)
    try:
        assert isinstance(spool_at(stores.engine, tmp_path / "spool"), Spool)
    finally:
        stores.close()


def test_a_database_that_cannot_take_the_entry_is_an_os_error(engine):
    spool = node(engine, "n")
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE spool_entries ADD CONSTRAINT tiny CHECK (size < 10)"))
    with pytest.raises(OSError):
        spool.write(entry())
    assert spool.queue_ids() == [] and spool.total_bytes == 0


def test_an_own_entry_the_node_lost_track_of_is_found_again(engine):
    spool = node(engine, "n")
    stray = entry()
    assert spool.write(stray)
    spool.forget(stray.queue_id)  # as after a write whose commit went through while the writer saw an error
    found = [q for _ in range(10) for q in spool.refresh()]
    assert found == [stray.queue_id]


async def test_a_second_live_process_under_a_node_id_in_use_is_refused(engine):
    from kakuri.store.nodes import NodeIdInUse, NodeRegistry

    with engine.begin() as conn:  # "mx1" beats on another machine
        conn.execute(text("INSERT INTO cluster_nodes (node_id, hostname, pid) VALUES ('mx1', 'elsewhere', 4242)"))
    with pytest.raises(NodeIdInUse, match="elsewhere"):
        await NodeRegistry(engine, "mx1", lease_seconds=LEASE).start()
    beat(engine, "mx1", age=LEASE + 1)  # it died: the id may be taken over
    registry = NodeRegistry(engine, "mx1", lease_seconds=LEASE)
    await registry.start()
    await registry.stop()


async def test_the_heartbeat_goes_on_when_the_queue_size_cannot_be_read(engine):
    from kakuri.store.nodes import NodeRegistry

    def broken() -> int:
        raise AttributeError("the spool is still being opened")

    registry = NodeRegistry(engine, "starting", heartbeat_seconds=0.1, lease_seconds=LEASE, queue_size=broken)
    await registry.start()
    beat(engine, "starting", age=LEASE + 1)
    await asyncio.sleep(0.5)
    with engine.connect() as conn:
        age = conn.scalar(text("SELECT EXTRACT(EPOCH FROM now() - heartbeat_at) FROM cluster_nodes WHERE node_id = 'starting'"))
    await registry.stop()
    assert float(age) < LEASE
