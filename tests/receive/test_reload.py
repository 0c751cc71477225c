"""`kakuri reload` (SIGHUP) brings a changed kakuri.toml to a running `kakuri serve`: new isolation actions
work without a restart, a bad file is refused and the old generation stays, and the console shows the
generation in force. A real gateway process with its console, on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.receive.reload import read_generation
from tests.web.factories import PASSWORD, login

KAKURI = Path(sys.executable).with_name("kakuri")
ACTION = "\n[[respond.isolation]]\nname = 'edr'\nkind = 'command'\nargv = ['/bin/true', '--', '{host}']\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def running(tmp_path):
    home = tmp_path / "kakuri-data"
    runner = CliRunner()
    assert runner.invoke(app, ["--home", str(home), "init", "--domain", "tokai-keiki.example"]).exit_code == 0
    assert runner.invoke(app, ["--home", str(home), "user", "add", "admin", "--role", "admin"], input=PASSWORD + "\n").exit_code == 0
    token = runner.invoke(app, ["--home", str(home), "user", "token", "admin"]).output.strip()
    port = free_port()
    process = subprocess.Popen([str(KAKURI), "--home", str(home), "serve", "--smtp", "127.0.0.1:0", "--next-hop", "maildir",
                                "--web", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    deadline = time.monotonic() + 90
    while True:
        try:
            if client.get("/api/v1/me").status_code == 200 and (home / "run" / "kakuri.pid").exists():
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.2)
    yield home, client, process
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    client.close()


def isolate(client):
    return client.post("/api/v1/incidents/1/isolate", json={"host": "10.20.1.5", "reason": "reload test", "dry_run": True})


def test_reload_brings_new_isolation_actions_and_shows_the_generation(running):
    home, client, process = running
    assert client.post("/api/v1/incidents", json={"title": "reload test"}).status_code == 201
    assert isolate(client).status_code == 409  # nothing configured yet
    assert read_generation(home).generation == 1

    with (home / "kakuri.toml").open("a", encoding="utf-8") as config:
        config.write(ACTION)
    result = CliRunner().invoke(app, ["--home", str(home), "reload"])
    assert result.exit_code == 0 and "configuration generation 2 in force" in result.output, result.output
    answer = isolate(client)
    assert answer.status_code == 200 and answer.json()[0]["action"] == "edr" and answer.json()[0]["dry_run"]

    browser = httpx.Client(base_url=client.base_url, timeout=30)
    assert login(browser, "admin").status_code == 303
    assert "configuration generation 2," in browser.get("/").text

    # A bad file: `kakuri reload` refuses it itself; a bare SIGHUP makes the gateway keep generation 2.
    text = (home / "kakuri.toml").read_text(encoding="utf-8")
    (home / "kakuri.toml").write_text(text + "\n[[respond.isolation]]\nname = 'x'\nkind = 'webhook'\n", encoding="utf-8")
    refused = CliRunner().invoke(app, ["--home", str(home), "reload"])
    assert refused.exit_code == 2 and "a webhook needs url" in refused.output
    os.kill(process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not read_generation(home).error:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert read_generation(home).generation == 2 and isolate(client).status_code == 200
    page = browser.get("/").text
    assert "last reload refused" in page and "changed since" in page

    (home / "kakuri.toml").write_text(text, encoding="utf-8")
    os.kill(process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while read_generation(home).generation != 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "configuration generation 3," in browser.get("/").text
    browser.close()


def test_reload_without_a_running_gateway_says_so(tmp_path):
    home = tmp_path / "kakuri-data"
    assert CliRunner().invoke(app, ["--home", str(home), "init"]).exit_code == 0
    result = CliRunner().invoke(app, ["--home", str(home), "reload"])
    assert result.exit_code == 2 and "no running gateway" in result.output


def test_milter_answers_reload_too(tmp_path):
    home = tmp_path / "kakuri-data"
    assert CliRunner().invoke(app, ["--home", str(home), "init"]).exit_code == 0
    process = subprocess.Popen([str(KAKURI), "--home", str(home), "milter", "--listen", f"127.0.0.1:{free_port()}",
                                "--smtp", "127.0.0.1:0", "--next-hop", "maildir"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not (home / "run" / "kakuri.pid").exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        with (home / "kakuri.toml").open("a", encoding="utf-8") as config:
            config.write(ACTION)
        result = CliRunner().invoke(app, ["--home", str(home), "reload"])
        assert result.exit_code == 0 and "generation 2" in result.output, result.output
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert not (home / "run" / "kakuri.pid").exists()
