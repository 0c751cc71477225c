"""Isolation actions cannot be turned: the host is an address or a name, webhooks follow no redirect,
and every call, failed or not even built, is on the timeline with its reason."""

from __future__ import annotations

import json
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.respond.incidents import get_incident, open_incident
from kakuri.respond.isolation import IsolationAction, IsolationError, check_host, isolate_host
from kakuri.settings import SettingsError, load_settings


@contextmanager
def http_server(answer):
    """A real HTTP server on loopback; `answer(handler)` writes the response; requests are recorded."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body})
            answer(self)

        def do_GET(self):
            seen.append({"method": "GET", "path": self.path, "headers": dict(self.headers), "body": b""})
            answer(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def reply(status: int, body: bytes = b"", headers: dict | None = None):
    def answer(handler):
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def timeline(session, incident_id):
    return [e.text for e in get_incident(session, incident_id).events if e.kind == "isolation"]


@pytest.mark.parametrize("host", ["10.20.1.5", "2001:db8::5", "PC-SALES01", "pc-sales01.corp.tokai-keiki.example", "WS_042"])
def test_addresses_and_host_names_are_accepted(host):
    assert check_host(host) in (host, host.lower(), "2001:db8::5")


@pytest.mark.parametrize("host", ["--release-all", "-x", "", "pc01\nrelease all", "pc01;reboot", "$(id)", "`id`",
                                  "a b", "pc01 --all", "../../etc", "-pc01", "pc01-", "1.2.3.4.5.6", "x" * 300])
def test_option_like_and_metacharacter_hosts_are_refused(host):
    with pytest.raises(IsolationError):
        check_host(host)


def test_refused_host_calls_nothing_and_links_nothing(session, tmp_path):
    marker = tmp_path / "called"
    incident = open_incident(session, title="t", actor="a")
    action = IsolationAction(name="edr", kind="command", argv=[sys.executable, "-c", f"open({str(marker)!r}, 'w')", "--", "{host}"])
    with pytest.raises(IsolationError):
        isolate_host(session, incident.id, "--release-all", [action], actor="a")
    assert not marker.exists()


def test_command_gets_the_host_after_the_end_of_options_marker(session, tmp_path):
    out = tmp_path / "argv.json"
    script = f"import json, sys; json.dump(sys.argv[1:], open({str(out)!r}, 'w'))"
    action = IsolationAction(name="edr", kind="command", argv=[sys.executable, "-c", script, "--isolate", "--", "{host}"])
    incident = open_incident(session, title="t", actor="a")
    [result] = isolate_host(session, incident.id, " 10.20.1.5 ", [action], actor="a")
    assert result.ok and json.loads(out.read_text()) == ["--isolate", "--", "10.20.1.5"]


def test_cli_refuses_an_option_as_host_with_one_line(settings, tmp_path):
    marker = tmp_path / "called"
    (settings.home).mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'w')", "--", "{host}"]
    (settings.home / "kakuri.toml").write_text(
        "[[respond.isolation]]\nname = 'edr'\nkind = 'command'\nargv = " + json.dumps(argv) + "\n", encoding="utf-8")
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    assert runner.invoke(app, [*home, "incident", "open", "t"]).exit_code == 0
    result = runner.invoke(app, [*home, "incident", "isolate", "1", "--", "--release-all"])
    assert result.exit_code == 2 and "not an IP address or a host name" in result.output
    assert "Traceback" not in result.output and not marker.exists()
    shown = runner.invoke(app, [*home, "incident", "show", "1"]).output
    assert "--release-all" not in shown


def test_webhook_redirect_is_a_failure_and_the_other_host_gets_nothing(session):
    with http_server(reply(200, b"isolated")) as (other, other_seen):
        with http_server(reply(302, headers={"Location": f"{other}/steal"})) as (url, seen):
            action = IsolationAction(name="edr", kind="webhook", url=f"{url}/isolate",
                                     headers={"Authorization": "Bearer s3cret"})
            incident = open_incident(session, title="t", actor="a")
            [result] = isolate_host(session, incident.id, "10.20.1.5", [action], actor="a")
    assert not result.ok and "HTTP 302" in result.detail and f"{other}/steal" in result.detail
    assert [r["method"] for r in seen] == ["POST"] and other_seen == []
    [text] = timeline(session, incident.id)
    assert "FAILED: HTTP 302" in text


def test_webhook_500_and_timeout_are_failures_with_their_reason(session):
    def slow(handler):
        time.sleep(2)
        reply(200, b"late")(handler)

    incident = open_incident(session, title="t", actor="a")
    with http_server(reply(500, b"boom")) as (failing, _), http_server(slow) as (hanging, _):
        actions = [
            IsolationAction(name="nac", kind="webhook", url=f"{failing}/isolate"),
            IsolationAction(name="fw", kind="webhook", url=f"{hanging}/isolate", timeout_seconds=0.5),
        ]
        started = time.monotonic()
        results = isolate_host(session, incident.id, "10.20.1.5", actions, actor="a")
        assert time.monotonic() - started < 2
    assert [r.ok for r in results] == [False, False]
    texts = timeline(session, incident.id)
    assert "FAILED: HTTP 500" in texts[0] and "FAILED: timeout" in texts[1]


def test_webhook_2xx_is_success_and_posts_json(session):
    with http_server(reply(202, b"queued")) as (url, seen):
        incident = open_incident(session, title="t", actor="a")
        [result] = isolate_host(session, incident.id, "10.20.1.5",
                                [IsolationAction(name="edr", kind="webhook", url=f"{url}/i")], actor="a", reason="C2")
    assert result.ok and json.loads(seen[0]["body"])["host"] == "10.20.1.5"
    assert timeline(session, incident.id) == ["isolate 10.20.1.5 via edr (webhook): ok"]


def test_a_call_that_cannot_be_built_is_recorded(session):
    incident = open_incident(session, title="t", actor="a")
    action = IsolationAction(name="edr", kind="command", argv=["/bin/true", "{hostname}"])
    [result] = isolate_host(session, incident.id, "10.20.1.5", [action], actor="a")
    assert not result.ok and "request not built" in result.detail and "KeyError" in result.detail
    assert "FAILED: request not built" in timeline(session, incident.id)[0]


def test_bad_isolation_settings_stop_cli_and_gateway_start_with_one_line(settings):
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "kakuri.toml").write_text("[[respond.isolation]]\nname = 'edr'\nkind = 'webhook'\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="a webhook needs url"):
        load_settings(settings.home)
    for command in (["incident", "list"], ["serve", "--smtp", "127.0.0.1:0", "--next-hop", "maildir"]):
        result = CliRunner().invoke(app, ["--home", str(settings.home), *command])
        assert result.exit_code == 2 and "a webhook needs url" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("reason", ["--release-all", " -f", "C2\nsecond line"])
def test_a_reason_that_reads_as_an_option_or_spans_lines_is_refused(session, reason):
    incident = open_incident(session, title="t", actor="a")
    action = IsolationAction(name="edr", kind="command", argv=["/bin/echo", "--reason", "{reason}", "--", "{host}"])
    with pytest.raises(IsolationError):
        isolate_host(session, incident.id, "10.20.1.5", [action], actor="a", reason=reason)
