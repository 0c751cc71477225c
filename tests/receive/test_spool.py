"""The spool: whole entries or none, no duplicates, and the figures backpressure needs."""

from __future__ import annotations

import time

from kakuri.model.envelope import Direction, Envelope
from kakuri.receive.spool import Spool, SpoolEntry, new_queue_id


def entry(queue_id: str | None = None, raw: bytes = b"Subject: x\r\n\r\nbody\r\n", **kw) -> SpoolEntry:
    env = Envelope(
        mail_from="a@partner.example",
        rcpt_tos=("b@tokai-keiki.example",),
        client_ip="192.0.2.1",
        direction=Direction.INBOUND,
    )
    return SpoolEntry(queue_id=queue_id or new_queue_id(), envelope=env, raw=raw, received_at=time.time(), **kw)


def test_entry_round_trips_with_binary_body_and_verdict(tmp_path):
    spool = Spool(tmp_path / "spool")
    raw = b"Subject: \x1b$B$3$s\x1b(B\r\n\r\n\x00\xff\nline\r\n"
    original = entry(
        raw=raw, verdict={"action": "tag", "score": 6.0}, rcpt_directions={"b@tokai-keiki.example": "inbound"}
    )
    assert spool.write(original)
    again = Spool(tmp_path / "spool").read(original.queue_id)
    assert again == original


def test_second_write_with_the_same_id_changes_nothing(tmp_path):
    spool = Spool(tmp_path / "spool")
    first = entry("q1", raw=b"A\r\n\r\nfirst")
    assert spool.write(first)
    assert not spool.write(entry("q1", raw=b"B\r\n\r\nsecond"))
    assert spool.read("q1").raw == b"A\r\n\r\nfirst"


def test_leftover_temporary_files_are_dropped_only_by_the_owner(tmp_path):
    spool = Spool(tmp_path / "spool")
    (spool.tmp / "half-written.tmp").write_bytes(b"partial")
    Spool(tmp_path / "spool")  # e.g. the CLI: must not touch the gateway's files in progress
    assert (spool.tmp / "half-written.tmp").exists()
    Spool(tmp_path / "spool", owner=True)
    assert not (spool.tmp / "half-written.tmp").exists()


def test_restart_finds_entries_left_by_a_previous_run(tmp_path):
    spool = Spool(tmp_path / "spool")
    ids = [e.queue_id for e in (entry(), entry()) if spool.write(e) or True]
    assert Spool(tmp_path / "spool", owner=True).queue_ids() == sorted(ids)


def test_entries_from_another_process_are_picked_up_by_refresh(tmp_path):
    gateway_view = Spool(tmp_path / "spool")
    Spool(tmp_path / "spool").write(entry("released-1"))
    assert gateway_view.refresh() == ["released-1"]
    assert gateway_view.refresh() == []


def test_overload_when_too_big_or_too_far_behind(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=1000, max_age_seconds=0.05)
    assert spool.overload() is None
    spool.write(entry("q1", raw=b"x" * 2000))
    assert spool.overload() == "full"
    spool.remove("q1")
    spool.write(entry("q2"))
    time.sleep(0.1)
    assert spool.overload() == "behind"
    spool.mark_started("q2")  # being worked on: no longer a sign of backlog
    assert spool.overload() is None


def test_queue_ids_sort_by_arrival():
    first = new_queue_id()
    time.sleep(0.001)
    assert new_queue_id() > first


def test_unreadable_entry_is_set_aside_not_deleted(tmp_path):
    spool = Spool(tmp_path / "spool")
    (tmp_path / "spool" / "bad.msg").write_bytes(b"garbage")
    spool.refresh()
    spool.set_aside("bad")
    assert (tmp_path / "spool" / "corrupt" / "bad.msg").read_bytes() == b"garbage"
    assert spool.queue_ids() == []


def test_entry_being_written_is_never_found_by_the_runners_poll(tmp_path):
    # The SMTP handler hands a fresh entry to the runner in memory; if the poll also found it while
    # the directory fsync was still running, the message would be processed (and delivered) twice.
    spool = Spool(tmp_path / "spool")
    fresh = entry()
    seen_during_write = []
    real_sync = spool._dir_sync.sync

    def sync_and_poll():
        real_sync()
        seen_during_write.extend(spool.refresh())

    spool._dir_sync.sync = sync_and_poll
    assert spool.write(fresh)
    assert (tmp_path / "spool" / f"{fresh.queue_id}.msg").exists()
    assert seen_during_write == [] and spool.refresh() == []


def test_concurrent_writers_share_directory_fsyncs_and_all_entries_are_whole(tmp_path):
    import threading

    spool = Spool(tmp_path / "spool")
    entries = [entry(raw=b"Subject: %d\r\n\r\nbody\r\n" % i) for i in range(40)]
    threads = [threading.Thread(target=spool.write, args=(e,)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = Spool(tmp_path / "spool")
    assert sorted(again.queue_ids()) == sorted(e.queue_id for e in entries)
    assert all(again.read(e.queue_id) == e for e in entries)
