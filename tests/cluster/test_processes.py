"""`kakuri serve --processes 2` on PostgreSQL: each acceptor process is its own node ("<node id>-<i>") and mail
sent to the shared port is delivered once."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.builders import make_message
from tests.cluster.conftest import OUR_DOMAIN, write_config
from tests.receive.conftest import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]


def status(home) -> dict[str, dict]:
    result = subprocess.run([sys.executable, "-m", "kakuri", "--home", str(home), "status", "--jsonl"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["node"]: row for row in rows if "node" in row}


def test_each_acceptor_process_is_a_node_and_mail_is_delivered_once(tmp_path, cluster_db, next_hop):
    from kakuri.settings import load_settings
    from kakuri.store.config import open_stores

    home, port = tmp_path / "multi", free_port()
    write_config(home, node_id="multi", url=cluster_db, next_hop=f"127.0.0.1:{next_hop.port}")
    open_stores(load_settings(home)).close()
    log = open(home / "serve.log", "ab")
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "kakuri", "--home", str(home), "serve", "--processes", "2", "--smtp", f"127.0.0.1:{port}"],
        stdout=log, stderr=log,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert supervisor.poll() is None, (home / "serve.log").read_text()[-3000:]
            nodes = status(home)
            if {"multi-0", "multi-1"} <= {n for n, row in nodes.items() if row["state"] == "alive"}:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"acceptor nodes not alive: {status(home)}")
        while (home / "serve.log").read_text().count("gateway listening") < 2:
            assert time.monotonic() < deadline, (home / "serve.log").read_text()[-3000:]
            time.sleep(0.2)
        mids = [f"<multi-{i}@partner.example>" for i in range(12)]
        for mid in mids:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail("taro@partner.example", [f"hanako@{OUR_DOMAIN}"], make_message(message_id=mid))
        deadline = time.monotonic() + 60
        while not set(mids) <= set(next_hop.message_ids()):
            assert time.monotonic() < deadline, "not every message was delivered"
            time.sleep(0.2)
        time.sleep(1.0)  # a duplicate would show up now
        counts = Counter(next_hop.message_ids())
        assert {mid: counts[mid] for mid in mids} == {mid: 1 for mid in mids}
    finally:
        supervisor.terminate()
        supervisor.wait(60)
    assert supervisor.returncode == 0
