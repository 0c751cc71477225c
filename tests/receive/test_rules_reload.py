"""The running gateway and new scanning rules: at start it notices the retained window was judged under
another rule version (a new release, rules changed while stopped) and retro-scans it in the background;
a rules reload compiles the new rules first, refuses broken ones and keeps the rules in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kakuri.receive.rules_reload import apply_rules, read_rules_state
from kakuri.respond.retrojobs import run_job
from kakuri.settings import load_settings
from kakuri.store.config import open_stores
from kakuri.store.retention import Retention, RetentionConfig, RetroFinding, RetroJob
from tests.builders import make_message
from tests.receive.conftest import wait_until
from tests.respond.test_retroscan import retain

KIT = b"PK-kit-2026 payload of the campaign"
RULE = 'rule kit_zip { strings: $a = "PK-kit-2026" condition: $a at 0 }\n'


def _retained_and_judged(home):
    """Two delivered messages, judged by a retro-scan job under today's rules."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "kakuri.toml").write_text("[retro]\nworkers = 0\n")
    (home / "policy.toml").write_text("[symbols.IOC_YARA_MATCH]\nscore = 12.0\n")
    settings = load_settings(home)
    stores = open_stores(settings)
    retention = Retention(RetentionConfig(), home)
    retain(stores, retention, make_message(subject="Report", attachments=[("r.bin", KIT)], message_id="<k@x.example>"),
           queue_id="kit")
    retain(stores, retention, make_message(subject="Hi", body="lunch?\n", message_id="<p@x.example>"), queue_id="plain")
    job, run = run_job(settings, stores, reason="test baseline", actor="test", since=datetime.now(UTC) - timedelta(days=1))
    assert job.state == "done" and run.findings == []
    return stores


def _findings_and_jobs(stores):
    with stores.sessions() as session:
        return ([f.queue_id for f in session.scalars(select(RetroFinding))],
                [(j.reason, j.state) for j in session.scalars(select(RetroJob).order_by(RetroJob.id))])


async def test_gateway_start_retro_scans_a_window_judged_under_other_rules(start_gateway, tmp_path):
    home = tmp_path / "kakuri-data"
    stores = _retained_and_judged(home)
    try:
        (home / "rules" / "yara").mkdir(parents=True)
        (home / "rules" / "yara" / "kit.yar").write_text(RULE)  # the rule version changes while stopped
        gateway = await start_gateway(home=home)
        await wait_until(lambda: len(_findings_and_jobs(stores)[1]) == 2 and _findings_and_jobs(stores)[1][1][1] != "running",
                         timeout=30)
        findings, jobs = _findings_and_jobs(stores)
        assert findings == ["kit"]
        assert jobs[1][0].startswith("gateway start: rule version") and jobs[1][1] == "done"
        assert gateway.retro is not None
    finally:
        stores.close()


async def test_rules_reload_in_a_running_gateway_refuses_broken_rules_then_applies_good_ones(start_gateway, tmp_path):
    home = tmp_path / "kakuri-data"
    stores = _retained_and_judged(home)
    try:
        gateway = await start_gateway(home=home)
        in_force = gateway.rule_version
        pool = gateway.scans._executor
        await wait_until(lambda: gateway.retro._thread is None, timeout=30)
        assert _findings_and_jobs(stores) == ([], [("test baseline", "done")])  # nothing new at start

        yara_dir = home / "rules" / "yara"
        yara_dir.mkdir(parents=True)
        (yara_dir / "kit.yar").write_text(RULE.replace("at 0", "and $b"))  # does not compile
        state = await apply_rules(gateway, load_settings(home))
        assert "kit.yar" in state.error and state.rule_version == in_force
        assert gateway.rule_version == in_force and gateway.scans._executor is pool
        assert read_rules_state(home).error == state.error
        assert _findings_and_jobs(stores)[1] == [("test baseline", "done")]

        (yara_dir / "kit.yar").write_text(RULE)
        state = await apply_rules(gateway, load_settings(home))
        assert state.error == "" and gateway.rule_version == state.rule_version != in_force
        assert gateway.scans._executor is not pool  # new mail is scanned with the new rules
        await wait_until(lambda: _findings_and_jobs(stores)[0] == ["kit"], timeout=30)
        await wait_until(lambda: _findings_and_jobs(stores)[1][-1][1] == "done", timeout=30)
        assert _findings_and_jobs(stores)[1][-1][0].startswith("rules reload: rule version")
    finally:
        stores.close()


async def test_delivered_mail_keeps_its_features_so_an_indicator_import_reads_no_mail(start_gateway, tmp_path):
    from kakuri.store.retention import MessageFeatures
    from tests.receive.conftest import message_state
    from tests.receive.test_smtp_handler import send

    home = tmp_path / "kakuri-data"
    gateway = await start_gateway(home=home, org={"our_domains": ["corp.example"]})
    raw = make_message(subject="Docs", body="shared at https://share.badcdn.example/d/91\n", message_id="<d@x.example>")
    queue_id = await send(gateway, raw, rcpts=("hanako@corp.example",))
    await wait_until(lambda: (m := message_state(gateway, queue_id)) and m.state == "delivered")
    with gateway.stores.sessions() as session:
        features = session.get(MessageFeatures, queue_id)
        assert features.judged_version == gateway.rule_version
        assert "domain:share.badcdn.example" in features.items
    for path in (home / "retained").rglob("*"):  # the indicator match must not need the copy
        if path.is_file():
            path.unlink()
    with gateway.stores.sessions() as session:
        from kakuri.store.indicators import Indicator

        session.add(Indicator(kind="domain", value="badcdn.example", source="test"))
        session.commit()
    job, run = run_job(load_settings(home), gateway.stores, reason="iocs import", actor="t", full=False, workers=0,
                       since=datetime.now(UTC) - timedelta(days=1))
    assert (run.examined, run.scanned, run.missing) == (1, 0, 0)
    assert [f.queue_id for f in run.findings] == [queue_id] and job.findings == 1
    same_rules, run = run_job(load_settings(home), gateway.stores, reason="t", actor="t", workers=0,
                              since=datetime.now(UTC) - timedelta(days=1))
    assert (run.skipped, run.scanned) == (1, 0)  # judged clean at delivery under this rule version
