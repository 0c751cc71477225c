"""Several `kakuri serve` nodes (real subprocesses on loopback) sharing one real PostgreSQL, and a recording
next hop (aiosmtpd) in the test process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.receive.conftest import RecordingSink, free_port
from tests.store.conftest import postgres_server  # noqa: F401  (fixture)

LEASE_SECONDS = 2.0
OUR_DOMAIN = "tokai-keiki.example"


@dataclass
class Node:
    """One gateway node: its data folder, SMTP and console ports, and its process."""

    name: str
    home: Path
    smtp_port: int
    web_port: int
    process: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.home / "serve.log"

    @property
    def smtp(self) -> tuple[str, int]:
        return "127.0.0.1", self.smtp_port

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "kakuri", "--home", str(self.home), "serve",
                   "--smtp", f"127.0.0.1:{self.smtp_port}", "--web", f"127.0.0.1:{self.web_port}"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"node {self.name} exited: {self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(self.smtp, timeout=0.5):
                    pass
                httpx.get(f"{self.web}/api/v1/emergency", timeout=1.0)
                return
            except (OSError, httpx.HTTPError):
                time.sleep(0.2)
        raise AssertionError(f"node {self.name} not ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def write_config(home: Path, *, node_id: str, url: str, next_hop: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "kakuri.toml").write_text(f"""
[org]
our_domains = ["{OUR_DOMAIN}"]

[store]
url = "{url}"

[smtp]
scan_pool = "thread"
scan_workers = 1

[delivery]
next_hop = "{next_hop}"
retry_schedule_seconds = [0.3]

[spool]
poll_seconds = 0.3

[retention]
enabled = false

[cluster]
node_id = "{node_id}"
lease_seconds = {LEASE_SECONDS}
heartbeat_seconds = 0.3
claim_batch = 50
""", encoding="utf-8")


@pytest.fixture(scope="module")
def cluster_db(postgres_server):  # noqa: F811
    import psycopg

    name = f"c_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server.replace('postgresql+psycopg', 'postgresql')}/postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


@pytest.fixture(scope="module")
def next_hop():
    handler = RecordingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    handler.release()
    controller.stop()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, cluster_db, next_hop):
    """Three nodes "a", "b", "c" on one database, started together (the first run migrates the schema)."""
    from kakuri.settings import load_settings
    from kakuri.store.config import open_stores

    root = tmp_path_factory.mktemp("cluster")
    made = []
    for name in ("a", "b", "c"):
        node = Node(name, root / name, free_port(), free_port())
        write_config(node.home, node_id=f"node-{name}", url=cluster_db, next_hop=f"127.0.0.1:{next_hop.port}")
        made.append(node)
    open_stores(load_settings(made[0].home)).close()  # migrate once, before three processes race to
    for node in made:
        node.start()
    try:
        for node in made:
            node.wait_ready()
        yield {node.name: node for node in made}
    finally:
        for node in made:
            node.stop()


@pytest.fixture(scope="module")
def admin_token(nodes):
    from kakuri.settings import load_settings
    from kakuri.store import accounts
    from kakuri.store.config import open_stores

    stores = open_stores(load_settings(nodes["a"].home), upgrade=False)
    try:
        with stores.sessions.begin() as db:
            user = accounts.add_user(db, name="admin", role="admin", password="correct horse battery staple 1")
            return accounts.create_token(db, user, "cluster tests")
    finally:
        stores.close()


@pytest.fixture(scope="module")
def store(nodes):
    from kakuri.settings import load_settings
    from kakuri.store.config import open_stores

    stores = open_stores(load_settings(nodes["a"].home), upgrade=False)
    yield stores
    stores.close()
