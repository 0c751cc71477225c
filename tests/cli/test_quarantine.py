"""`kakuri quarantine list|show|release|delete` on a seeded data folder."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.receive.spool import Spool
from kakuri.store.config import open_stores
from tests.store.test_gateway_store import DELIVER, QUARANTINE, accept

runner = CliRunner()


def seed(settings):
    stores = open_stores(settings)
    accept(stores, "q-bad", QUARANTINE, raw=b"Subject: bad\r\n\r\nmalware", subject="Invoice")
    accept(stores, "q-good", DELIVER, subject="Lunch")
    return stores


def kakuri(settings, *args):
    result = runner.invoke(app, ["--home", str(settings.home), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_list_shows_only_kept_mail(settings):
    seed(settings)
    rows = [json.loads(line) for line in kakuri(settings, "quarantine", "list", "--jsonl").splitlines()]
    assert [(r["queue_id"], r["state"], r["symbols"]) for r in rows] == [("q-bad", "quarantined", ["FILE_SCRIPT"])]
    assert "q-bad" in kakuri(settings, "quarantine", "list")


def test_show_gives_evidence_and_raw_bytes(settings):
    seed(settings)
    detail = json.loads(kakuri(settings, "quarantine", "show", "q-bad"))
    assert detail["findings"][0]["evidence"] == {"name": "a.js"} and detail["audit"][0]["event"] == "received"
    raw = runner.invoke(app, ["--home", str(settings.home), "quarantine", "show", "q-bad", "--raw"])
    assert raw.stdout_bytes == b"Subject: bad\r\n\r\nmalware"


def test_release_writes_a_spool_entry_and_audits_who_and_why(settings):
    seed(settings)
    kakuri(settings, "quarantine", "release", "q-bad", "--reason", "sender confirmed")
    entry = Spool(settings.home / "spool").read("q-bad")
    assert entry.origin == "release" and entry.raw == b"Subject: bad\r\n\r\nmalware"
    detail = json.loads(kakuri(settings, "quarantine", "show", "q-bad"))
    assert detail["state"] == "released"
    assert detail["audit"][-1]["actor"].startswith("cli:") and detail["audit"][-1]["reason"] == "sender confirmed"


def test_release_of_delivered_mail_is_refused_with_a_clear_error(settings):
    seed(settings)
    result = runner.invoke(app, ["--home", str(settings.home), "quarantine", "release", "q-good", "-r", "x"])
    assert result.exit_code == 1 and "only quarantined or held" in result.output


def test_delete_removes_the_copy(settings):
    stores = seed(settings)
    kakuri(settings, "quarantine", "delete", "q-bad", "--reason", "malware confirmed")
    assert json.loads(kakuri(settings, "quarantine", "show", "q-bad"))["state"] == "deleted"
    assert list((settings.home / "blobs").glob("??/*")) == []
    stores.close()
