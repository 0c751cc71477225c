"""`kakuri serve --processes 2`: two whole gateways on one port; a child killed with -9 is started again and
finishes what it acknowledged. Real processes, real SMTP, messages identified by Message-ID."""

from __future__ import annotations

import functools
import os
import signal
import smtplib
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from kakuri.receive.spool import FolderLock, SpoolBusy, process_folder
from kakuri.receive.supervisor import adopt_orphans
from tests import waiting
from tests.builders import make_message
from tests.receive.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


wait_for = functools.partial(waiting.wait_for, timeout=90.0, interval=0.1)


def owner(folder: Path) -> int | None:
    """The pid holding the spool folder's lock, when that process is alive."""
    try:
        pid = int((folder / ".lock").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def send(port: int, mid: str) -> str | None:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:  # a new connection each time
            client.ehlo()
            client.mail("taro@partner.example")
            client.rcpt("hanako@tokai-keiki.example")
            code, reply = client.data(make_message(subject=mid, message_id=mid))
            return reply.decode().split("queued as ")[-1] if code == 250 else None
    except (smtplib.SMTPException, OSError):
        return None


def test_two_acceptors_share_the_port_and_a_killed_one_loses_nothing(tmp_path, sink):
    home, port = tmp_path / "home", free_port()
    home.mkdir()
    (home / "kakuri.toml").write_text(
        '[smtp]\nscan_pool = "thread"\nscan_workers = 1\n'
        "[delivery]\nretry_schedule_seconds = [0.3]\nconcurrency = 4\n[spool]\npoll_seconds = 0.3\n"
    )
    log = open(home / "serve.log", "ab")
    command = [sys.executable, "-m", "kakuri", "--home", str(home), "serve", "--processes", "2",
               "--smtp", f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink.port}"]
    supervisor = subprocess.Popen(command, stdout=log, stderr=log)
    folders = [process_folder(home / "spool", i) for i in (0, 1)]
    try:
        wait_for(lambda: (home / "serve.log").read_text().count("gateway listening") == 2, message="two listeners")
        sink.hold = True  # deliveries wait at DATA: the entries stay in the spool folders
        mids = [f"<proc-{i}@partner.example>" for i in range(24)]
        accepted = {mid: send(port, mid) for mid in mids}
        assert all(accepted.values())
        # Both processes took mail: each folder holds entries (24 connections spread by the kernel).
        assert all(list(f.glob("*.msg")) for f in folders), [len(list(f.glob("*.msg"))) for f in folders]
        assert len({owner(f) for f in folders}) == 2 and None not in {owner(f) for f in folders}

        killed = owner(folders[1])
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: owner(folders[1]) not in (None, killed), message="process 1 started again")
        time.sleep(0.5)
        sink.release()
        more = {f"<after-{i}@partner.example>": None for i in range(6)}
        wait_for(lambda: (home / "serve.log").read_text().count("gateway listening") == 3, message="restart listening")
        for mid in more:
            more[mid] = send(port, mid)
        accepted |= more
        assert all(accepted.values())

        wait_for(lambda: set(accepted) <= set(sink.message_ids()), message="every message delivered")
        with sqlite3.connect(home / "kakuri.db") as db:
            wait_for(lambda: all(s == "delivered" for (s,) in db.execute("SELECT state FROM gw_messages")))
            states = dict(db.execute("SELECT queue_id, state FROM gw_messages"))
        time.sleep(1.0)  # a duplicate would show up now
        assert Counter(sink.message_ids()) == {mid: 1 for mid in accepted}
        assert {states[q] for q in accepted.values()} == {"delivered"}
        wait_for(lambda: not any(list(f.glob("*.msg")) for f in folders), message="spool folders empty")
    finally:
        supervisor.terminate()
        supervisor.wait(60)
    assert supervisor.returncode == 0 and all(owner(f) is None for f in folders)  # children stopped with it


def test_a_spool_folder_has_one_owner_and_orphans_go_to_process_zero(tmp_path):
    root = tmp_path / "spool"
    folder = process_folder(root, 1)
    folder.mkdir(parents=True)
    held = FolderLock(folder / ".lock", wait_seconds=0)
    with pytest.raises(SpoolBusy, match=str(os.getpid())):
        FolderLock(folder / ".lock", wait_seconds=0.2)  # a second owner waits, then refuses
    (folder / "q1.msg").write_bytes(b"x")
    assert adopt_orphans(root, processes=1) == 0  # still owned: left alone
    held.release()
    assert adopt_orphans(root, processes=2) == 0  # process 1 will be started: its folder is its own
    assert adopt_orphans(root, processes=1) == 1 and (root / "q1.msg").read_bytes() == b"x"
