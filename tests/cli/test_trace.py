"""`kakuri trace`: filters and the --jsonl record per message and recipient."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.cli.trace import parse_time
from kakuri.store.config import open_stores
from tests.store.test_gateway_store import DELIVER, QUARANTINE, accept

runner = CliRunner()


def test_jsonl_has_one_record_per_message_and_recipient(settings):
    stores = open_stores(settings)
    accept(stores, "q1", DELIVER, rcpts=("a@tokai-keiki.example", "b@tokai-keiki.example"), subject="Lunch")
    accept(stores, "q2", QUARANTINE, sender="x@evil.example", subject="Invoice")
    stores.close()
    result = runner.invoke(app, ["--home", str(settings.home), "trace", "--jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert sorted((r["queue_id"], r["rcpt_to"]) for r in rows) == [
        ("q1", "a@tokai-keiki.example"),
        ("q1", "b@tokai-keiki.example"),
        ("q2", "hanako@tokai-keiki.example"),
    ]
    for row in rows:
        assert {"message_id", "mail_from", "rcpt_to", "action", "state", "received_at", "finished_at"} <= row.keys()
    only = runner.invoke(app, ["--home", str(settings.home), "trace", "--jsonl", "--from", "evil", "--since", "1h"])
    assert [json.loads(line)["queue_id"] for line in only.output.splitlines()] == ["q2"]
    table = runner.invoke(app, ["--home", str(settings.home), "trace", "--subject", "Lunch"])
    assert "q1" in table.output and "q2" not in table.output


def test_time_arguments():
    assert abs((datetime.now(UTC) - parse_time("2h")) - timedelta(hours=2)) < timedelta(seconds=5)
    assert parse_time("2026-11-25T09:00") == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_table_names_the_other_half_of_a_ppap_pair(settings):
    from kakuri.store.messages import AuditEvent

    stores = open_stores(settings)
    accept(stores, "q7", QUARANTINE, subject="見積書")
    accept(stores, "q8", QUARANTINE, subject="パスワード")
    with stores.sessions() as session:
        session.add(AuditEvent(queue_id="q8", actor="ppap", event="quarantined", detail={"related": "q7"}))
        session.commit()
    stores.close()
    table = runner.invoke(app, ["--home", str(settings.home), "trace", "--subject", "パスワード"], env={"COLUMNS": "250"})
    assert "(with q7)" in table.output
