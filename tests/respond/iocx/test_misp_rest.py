"""`kakuri iocs pull-misp` against a MISP-like REST endpoint on loopback (the /events/restSearch contract)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select
from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.settings import load_settings
from kakuri.store.config import open_stores
from kakuri.store.indicators import Indicator

KEY = "k" * 40


def test_pull_misp_sends_the_key_and_imports_the_events(tmp_path):
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers.get("Authorization"), body))
            if self.headers.get("Authorization") != KEY:
                self.send_response(403)
                self.end_headers()
                return
            data = json.dumps({"response": [{"Event": {"uuid": "e-1", "info": "Emotet wave", "Attribute": [
                {"type": "url", "value": "http://203.0.113.5/dl/inv.doc", "to_ids": True}]}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "misp.key").write_text(KEY + "\n")
    (home / "kakuri.toml").write_text(f"""
[iocx.misp]
url = "http://127.0.0.1:{server.server_address[1]}/"
key_file = "misp.key"
last = "3d"
""")
    try:
        result = CliRunner().invoke(app, ["--home", str(home), "iocs", "pull-misp"])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    assert "1 event(s), 1 new indicator(s)" in result.output
    path, key, body = seen[0]
    assert path == "/events/restSearch" and key == KEY and body["last"] == "3d" and body["returnFormat"] == "json"
    stores = open_stores(load_settings(home))
    try:
        with stores.sessions() as session:
            assert session.execute(select(Indicator.kind, Indicator.value, Indicator.source)).tuples().all() == [
                ("url", "http://203.0.113.5/dl/inv.doc", "misp:e-1")]
    finally:
        stores.close()
