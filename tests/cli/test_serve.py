"""`kakuri serve --smtp --next-hop` and `kakuri queue` as an operator runs them."""

from __future__ import annotations

import json
import smtplib
import socket
import urllib.request
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from kakuri.cli.main import app
from tests.builders import make_message
from tests.receive.conftest import free_port, sink  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(90)


def wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("not listening")


def test_serve_with_command_line_overrides_delivers_and_stops_on_sigterm(tmp_path, sink):  # noqa: F811
    home, port = tmp_path / "data", free_port()
    home.mkdir()
    (home / "kakuri.toml").write_text('[smtp]\nscan_pool = "thread"\n')
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kakuri",
            "--home",
            str(home),
            "serve",
            "--smtp",
            f"127.0.0.1:{port}",
            "--next-hop",
            f"127.0.0.1:{sink.port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(port, proc)
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("a@partner.example", ["b@tokai-keiki.example"], make_message(subject="via serve"))
        deadline = time.monotonic() + 20
        while not sink.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert b"Subject: via serve" in sink.received[0].data
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert f"SMTP on 127.0.0.1:{port}".encode() in err


def test_queue_shows_deferred_mail_and_why(tmp_path):
    import asyncio

    from kakuri.receive.server import Gateway
    from tests.receive.conftest import gateway_settings

    settings = gateway_settings(tmp_path / "data", next_hop="127.0.0.1:9", delivery={"retry_schedule_seconds": [600]})

    async def one_deferred():
        gateway = Gateway(settings)
        await gateway.start()
        try:
            import aiosmtplib

            await aiosmtplib.send(
                make_message(),
                sender="a@partner.example",
                recipients=["b@tokai-keiki.example"],
                hostname=gateway.address[0],
                port=gateway.address[1],
            )
            for _ in range(100):
                await asyncio.sleep(0.05)
                with gateway.stores.sessions() as session:
                    from kakuri.store.messages import Recipient

                    if session.query(Recipient).filter_by(status="deferred").count():
                        return
        finally:
            await gateway.stop()

    asyncio.run(one_deferred())
    result = CliRunner().invoke(app, ["--home", str(settings.home), "queue", "--jsonl"])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert row["status"] == "deferred" and row["recipient"] == "b@tokai-keiki.example"
    assert "Connect" in row["why"] and row["next_attempt_at"]


def test_run_default_initialises_the_data_folder_and_delivers_to_the_maildir(tmp_path):
    for port in (2525, 8025):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"127.0.0.1:{port} is in use")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kakuri", "--home", str(tmp_path / "kd"), "run-default"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(2525, proc)
        with smtplib.SMTP("127.0.0.1", 2525) as client:
            client.sendmail("alice@example.com", ["bob@example.org"], make_message(subject="first mail"))
        new = tmp_path / "kd" / "maildir" / "new"
        deadline = time.monotonic() + 20
        while not (new.exists() and list(new.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert b"Subject: first mail" in next(new.iterdir()).read_bytes()
        wait_port(8025, proc)
        with urllib.request.urlopen("http://127.0.0.1:8025/login", timeout=10) as page:
            assert page.status == 200 and b"kakuri" in page.read()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert (tmp_path / "kd" / "kakuri.toml").exists()
    assert b"swaks --server 127.0.0.1:2525" in out


def test_queue_lists_the_spool_folders_of_every_acceptor_process(tmp_path):
    from kakuri.model.envelope import Envelope
    from kakuri.receive.spool import Spool, SpoolEntry, process_folder

    home = tmp_path / "data"
    home.mkdir()
    (home / "kakuri.toml").write_text("")
    for index, queue_id in ((0, "q-zero"), (2, "q-two")):  # as left by `serve --processes 3`
        entry = SpoolEntry(queue_id=queue_id, envelope=Envelope(mail_from="a@x.example", rcpt_tos=("b@y.example",)),
                           raw=make_message(), received_at=0.0)
        Spool(process_folder(home / "spool", index)).write(entry)
    result = CliRunner().invoke(app, ["--home", str(home), "queue", "--jsonl"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["queue_id"] for line in result.output.splitlines()] == ["q-zero", "q-two"]
