"""Retention, retro-scan jobs and indicator import on PostgreSQL: the same commands, chosen by [store] url."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.respond.retroscan import retro_scan
from kakuri.settings import load_settings
from kakuri.store.config import open_stores
from kakuri.store.retention import RetainedMessage, Retention, RetentionConfig, RetroFinding, RetroJob
from tests.builders import make_message
from tests.respond.test_retrojobs import check_one_at_a_time
from tests.respond.test_retroscan import retain

pytestmark = pytest.mark.postgres
runner = CliRunner()


def test_retention_retro_scan_and_indicator_import_on_postgresql(tmp_path, postgres_url):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "kakuri.toml").write_text(f'[store]\nurl = "{postgres_url}"\n[retro]\nworkers = 0\n')
    settings = load_settings(home)
    stores = open_stores(settings)
    assert stores.engine.dialect.name == "postgresql"
    retention = Retention(RetentionConfig(days=14), home)
    try:
        retain(stores, retention, make_message(subject="Invoice", body="see https://files.example.net/a/b\n",
                                               message_id="<link@ext.example>"), queue_id="link")
        for n in range(3):  # one attachment mailed three times
            retain(stores, retention, make_message(subject=f"Report {n}", attachments=[("r.bin", b"PK-pg-kit body")],
                                                   message_id=f"<zip{n}@ext.example>"), queue_id=f"zip{n}")
        retain(stores, retention, make_message(subject="Lunch", body="at noon? https://cafe.example.org/menu\n",
                                               message_id="<plain@ext.example>"), queue_id="plain")
        old_key = retention.keep(b"Subject: old\r\n\r\nold\r\n")
        with stores.sessions() as session:
            retention.record(session, queue_id="old", key=old_key, size=20, at=datetime.now(UTC) - timedelta(days=20))
            retention.record(session, queue_id="old", key=old_key, size=20)  # replayed: ignored, not an error
            session.commit()
            assert retention.expire(session) == (1, 20)
            assert "old" not in set(session.scalars(select(RetainedMessage.queue_id)))

        feed = tmp_path / "urls.txt"
        feed.write_text("https://files.example.net/a/b\n")
        result = runner.invoke(app, ["--home", str(home), "iocs", "import", str(feed)])
        assert result.exit_code == 0, result.output
        (home / "rules" / "yara").mkdir(parents=True)
        (home / "rules" / "yara" / "kit.yar").write_text('rule kit { strings: $a = "PK-pg-kit" condition: $a at 0 }\n')
        (home / "policy.toml").write_text("[symbols.IOC_YARA_MATCH]\nscore = 12.0\n")
        # one spawned scan worker: it opens its own connections to the server (none inherited)
        (home / "kakuri.toml").write_text(f'[store]\nurl = "{postgres_url}"\n[retro]\nworkers = 1\n')
        result = runner.invoke(app, ["--home", str(home), "rules", "reload"])
        assert result.exit_code == 0, result.output
        with stores.sessions() as session:
            findings = sorted(f.queue_id for f in session.scalars(select(RetroFinding)))
            jobs = [(j.reason.split(":")[0], j.state, j.full) for j in session.scalars(select(RetroJob).order_by(RetroJob.id))]
        assert findings == ["link", "zip0", "zip1", "zip2"]
        assert jobs == [("iocs import urls.txt", "done", False), ("rules reload", "done", True)]
        again = retro_scan(load_settings(home), stores, since=datetime.now(UTC) - timedelta(days=1), actor="t")
        # The clean message was judged under this rule version: skipped (the bad ones are judged again, not news).
        assert (again.examined, again.skipped, again.scanned, again.findings) == (5, 1, 4, [])
        check_one_at_a_time(settings, stores)
    finally:
        stores.close()
