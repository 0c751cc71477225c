"""Knowledge changes start a retro-scan job by themselves: `kakuri iocs import` and `kakuri rules reload`
(no gateway running: the job runs in the command), recorded in rt_jobs; broken rules change nothing."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.store.config import open_stores
from kakuri.store.retention import Retention, RetentionConfig, RetroFinding, RetroJob
from tests.builders import make_message
from tests.respond.iocx.test_feeds import feed_server  # noqa: F401  (fixture)
from tests.respond.test_retroscan import retain

runner = CliRunner()


def _window(settings):
    stores = open_stores(settings)
    retention = Retention(RetentionConfig(), settings.home)
    retain(stores, retention, make_message(subject="Invoice", body="see https://files.example.net/a/b\n",
                                           message_id="<link@ext.example>"), queue_id="link")
    retain(stores, retention, make_message(subject="Report", attachments=[("r.bin", b"PK-campaign-7 bytes of a kit")],
                                           message_id="<zip@ext.example>"), queue_id="zip")
    retain(stores, retention, make_message(subject="Hello", body="lunch at noon?\n", message_id="<plain@ext.example>"),
           queue_id="plain")
    return stores


def _state(stores):
    with stores.sessions() as session:
        findings = sorted(f.queue_id for f in session.scalars(select(RetroFinding)))
        jobs = [(j.reason, j.state, j.full, j.slot) for j in session.scalars(select(RetroJob).order_by(RetroJob.id))]
    return findings, jobs


def test_importing_an_indicator_finds_retained_mail_without_a_manual_retro_scan(settings, tmp_path):
    stores = _window(settings)
    feed = tmp_path / "urls.txt"
    feed.write_text("https://files.example.net/a/b\n")
    try:
        result = runner.invoke(app, ["--home", str(settings.home), "iocs", "import", str(feed)])
        assert result.exit_code == 0, result.output
        findings, jobs = _state(stores)
        assert findings == ["link"]
        assert jobs == [("iocs import urls.txt", "done", False, None)]  # recorded, and the slot is free again
        # The same list again brings nothing new: no job.
        assert runner.invoke(app, ["--home", str(settings.home), "iocs", "import", str(feed)]).exit_code == 0
        assert len(_state(stores)[1]) == 1
    finally:
        stores.close()


def test_automatic_retro_scan_can_be_switched_off(settings, tmp_path):
    stores = _window(settings)
    (settings.home / "kakuri.toml").write_text("[retro]\nauto = false\n")
    feed = tmp_path / "urls.txt"
    feed.write_text("https://files.example.net/a/b\n")
    try:
        assert runner.invoke(app, ["--home", str(settings.home), "iocs", "import", str(feed)]).exit_code == 0
        assert _state(stores) == ([], [])
        (settings.home / "kakuri.toml").write_text("[retro]\nauto = 'maybe'\n")  # typed: a wrong value is an error
        result = runner.invoke(app, ["--home", str(settings.home), "retro-scan"])
        assert result.exit_code != 0 and "auto" in result.output
    finally:
        stores.close()


def test_rules_reload_with_a_new_yara_rule_finds_retained_mail_and_a_broken_rule_changes_nothing(settings):
    stores = _window(settings)
    yara_dir = settings.home / "rules" / "yara"
    yara_dir.mkdir(parents=True)
    try:
        broken = yara_dir / "broken.yar"
        broken.write_text('rule half_written { strings: $a = "PK-campaign" condition: $b }\n')
        (settings.home / "policy.toml").write_text("[symbols.IOC_YARA_MATCH]\nscore = 12.0\n")
        result = runner.invoke(app, ["--home", str(settings.home), "rules", "reload"])
        assert result.exit_code == 2
        assert "broken.yar" in result.output and "nothing changed" in result.output
        assert _state(stores) == ([], [])

        broken.unlink()
        (yara_dir / "campaign.yar").write_text('rule kit_zip { strings: $a = "PK-campaign-" condition: $a at 0 }\n')
        result = runner.invoke(app, ["--home", str(settings.home), "rules", "reload"])
        assert result.exit_code == 0, result.output
        findings, jobs = _state(stores)
        assert findings == ["zip"]
        [(reason, state, full, slot)] = jobs
        assert reason.startswith("rules reload") and (state, full, slot) == ("done", True, None)
        again = runner.invoke(app, ["--home", str(settings.home), "rules", "reload"])
        assert "judged under this rule version already" in again.output and len(_state(stores)[1]) == 1
    finally:
        stores.close()


def test_a_feed_refresh_that_brings_new_indicators_finds_retained_mail(settings, feed_server):  # noqa: F811
    stores = _window(settings)
    retention = Retention(RetentionConfig(), settings.home)
    retain(stores, retention, make_message(subject="Invoice", body="http://198.51.100.7/wp-content/x.php\n",
                                           message_id="<feed@ext.example>"), queue_id="feed")
    (settings.home / "kakuri.toml").write_text(
        f'[[iocx.feeds]]\nname = "urlhaus"\nurl = "{feed_server.url}"\nformat = "abusech"\nrefresh_minutes = 0\n')
    try:
        result = runner.invoke(app, ["--home", str(settings.home), "iocs", "refresh"])
        assert result.exit_code == 0, result.output
        findings, jobs = _state(stores)
        assert findings == ["feed"] and jobs == [("iocs refresh urlhaus", "done", False, None)]
        result = runner.invoke(app, ["--home", str(settings.home), "iocs", "refresh", "--force"])
        assert result.exit_code == 0 and "urlhaus: unchanged" in result.output
        assert len(_state(stores)[1]) == 1  # the server said 304: nothing new, no job
    finally:
        stores.close()


def test_retro_scan_auto_runs_only_when_the_window_was_judged_under_other_rules(settings):
    stores = _window(settings)
    home = str(settings.home)
    try:
        first = runner.invoke(app, ["--home", home, "retro-scan", "--auto"])
        assert first.exit_code == 0 and "retro-scan job 1:" in first.output  # never judged by a retro-scan
        again = runner.invoke(app, ["--home", home, "retro-scan", "--auto"])
        assert "judged under today's rule version" in again.output and len(_state(stores)[1]) == 1
        (settings.home / "policy.toml").write_text("[symbols.URL_SHORTENER]\nscore = 2.5\n")  # e.g. a new release
        changed = runner.invoke(app, ["--home", home, "retro-scan", "--auto", "--json"])
        assert '"job": 2' in changed.output
        jobs = runner.invoke(app, ["--home", home, "retro-scan", "--jobs", "--json"])
        assert jobs.output.count('"state": "done"') == 2 and "retro-scan --auto: rule version" in jobs.output
    finally:
        stores.close()
