"""Retro-scan over retained delivered mail: indicators, rescans under new rules, skipping what was judged."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kakuri.respond.retroscan import IndicatorIndex, RetroPool, retro_scan, rule_version
from kakuri.store import mailflow
from kakuri.store.config import open_stores
from kakuri.store.incidents import IncidentLink
from kakuri.store.indicators import Indicator
from kakuri.store.messages import RecipientStatus
from kakuri.store.retention import Retention, RetentionConfig, RetroFinding
from tests.builders import make_message

SINCE = datetime.now(UTC) - timedelta(days=1)


def retain(stores, retention, raw: bytes, *, queue_id: str, rcpts=("hanako@corp.example",), mail_from="x@ext.example",
           subject="s"):
    """A message as the gateway leaves it after delivery: record, delivered recipients, retained copy."""
    key = retention.keep(raw)
    found = re.search(rb"^Message-ID:\s*<([^>]+)>", raw, re.M | re.I)
    message = mailflow.new_message(
        queue_id=queue_id, mail_from=mail_from, rcpt_directions=dict.fromkeys(rcpts, "inbound"), direction="inbound",
        received_at=datetime.now(UTC), size=len(raw), verdict={"action": "deliver", "score": 0.0},
        headers={"message_id": found.group(1).decode() if found else "", "subject": subject})
    for rcpt in message.recipients:
        rcpt.status = RecipientStatus.DELIVERED
    message.state = "delivered"
    with stores.sessions() as session:
        session.add(message)
        session.flush()
        retention.record(session, queue_id=queue_id, key=key, size=len(raw))
        session.commit()


def _window(settings):
    stores = open_stores(settings)
    retention = Retention(RetentionConfig(), settings.home)
    shared = b"PK-not-really-a-zip " + os.urandom(32)  # one attachment mailed to many (a campaign, a newsletter)
    for n in range(4):
        retain(stores, retention, make_message(subject=f"Report {n}", attachments=[("report.bin", shared)],
                                               message_id=f"<r{n}@ext.example>"), queue_id=f"q{n}")
    retain(stores, retention, make_message(subject="Lone", body="see https://files.example.net/a/b\n",
                                           message_id="<lone@ext.example>"), queue_id="lone")
    return stores, retention


def test_second_run_under_the_same_rules_skips_everything(settings):
    stores, _ = _window(settings)
    pool = RetroPool(settings.home, workers=0)
    try:
        first = retro_scan(settings, stores, since=SINCE, actor="test", pool=pool)
        assert (first.examined, first.scanned, first.skipped, len(first.findings)) == (5, 5, 0, 0)
        second = retro_scan(settings, stores, since=SINCE, actor="test", pool=pool)
        assert (second.examined, second.scanned, second.skipped) == (5, 0, 5)
        forced = retro_scan(settings, stores, since=SINCE, actor="test", pool=pool, skip_judged=False)
        assert forced.scanned == 5
    finally:
        pool.close()
        stores.close()


def test_new_rules_rescan_each_attachment_once_and_a_yara_rule_finds_what_was_delivered(settings):
    stores, _ = _window(settings)
    try:
        retro_scan(settings, stores, since=SINCE, actor="test", pool=RetroPool(settings.home, workers=0))
        before = rule_version(settings)
        (settings.home / "policy.toml").write_text("[symbols.URL_SHORTENER]\nscore = 2.5\n")
        assert rule_version(settings) != before
        run = retro_scan(settings, stores, since=SINCE, actor="test", pool=RetroPool(settings.home, workers=0))
        # The four copies of one attachment are judged once; the link-only mail has its own content.
        assert (run.scanned, run.skipped) == (2, 3)

        yara_dir = settings.home / "rules" / "yara"
        yara_dir.mkdir(parents=True)
        (yara_dir / "campaign.yar").write_text('rule fake_zip_campaign { strings: $a = "PK-not-really-a-zip" condition: $a at 0 }\n')
        (settings.home / "policy.toml").write_text("[symbols.IOC_YARA_MATCH]\nscore = 12.0\n")
        run = retro_scan(settings, stores, since=SINCE, actor="test", pool=RetroPool(settings.home, workers=0))
        # The first copy is found malicious, so its attachment is not judged clean: every copy is scanned.
        assert run.scanned == 5 and sorted(f.queue_id for f in run.findings) == ["q0", "q1", "q2", "q3"]
        assert all("IOC_YARA_MATCH" in f.matched for f in run.findings)
        with stores.sessions() as session:
            links = {l.value for l in session.scalars(select(IncidentLink).where(IncidentLink.kind == "message"))}
            assert links == {"q0", "q1", "q2", "q3"}
    finally:
        stores.close()


def test_indicator_import_matches_known_features_without_scanning(settings):
    stores, _ = _window(settings)
    try:
        retro_scan(settings, stores, since=SINCE, actor="test", pool=RetroPool(settings.home, workers=0))
        with stores.sessions() as session:
            session.add(Indicator(kind="domain", value="files.example.net", source="test"))  # the link's host
            session.add(Indicator(kind="domain", value="example.org", source="test"))  # nothing here
            session.commit()
        run = retro_scan(settings, stores, since=SINCE, actor="test", scan=False)
        assert run.scanned == 0
        [finding] = run.findings
        assert finding.queue_id == "lone" and finding.recipients == ["hanako@corp.example"]
        assert "indicator domain:files.example.net" in finding.matched
        again = retro_scan(settings, stores, since=SINCE, actor="test", scan=False, incident_id=run.incident_id)
        assert again.findings == []  # one finding per message and incident
        with stores.sessions() as session:
            assert len(session.scalars(select(RetroFinding)).all()) == 1
    finally:
        stores.close()


def test_indicator_index_matches_subdomains_and_normalised_urls():
    index = IndicatorIndex([("domain", "Evil.Example."), ("url", "HTTP://Dl.Example/x/"), ("email", "a@b.example")])
    assert index.match(["domain:cdn.evil.example", "domain:notevil.example", "url:http://dl.example/x",
                        "email:A@B.example".lower(), "domain:example"]) == [
        "domain:cdn.evil.example", "url:http://dl.example/x", "email:a@b.example"]


def test_a_new_yara_rule_alone_is_matched_without_a_full_scan_of_the_mail_it_does_not_match(settings):
    stores, _ = _window(settings)
    (settings.home / "policy.toml").write_text("[symbols.IOC_YARA_MATCH]\nscore = 12.0\n")  # policy set beforehand
    try:
        retro_scan(settings, stores, since=SINCE, actor="test", pool=RetroPool(settings.home, workers=0))
        before = rule_version(settings)
        yara_dir = settings.home / "rules" / "yara"
        yara_dir.mkdir(parents=True)
        (yara_dir / "campaign.yar").write_text('rule fake_zip { strings: $a = "PK-not-really-a-zip" condition: $a at 0 }\n')
        after = rule_version(settings)
        assert after[:16] == before[:16] and after != before  # the YARA half alone changed
        run = retro_scan(settings, stores, since=SINCE, actor="test", pool=RetroPool(settings.home, workers=0))
        # The link-only message: its parts run through the YARA rules only, no match, judged as before.
        # The four copies of the matching attachment: full scans, and found.
        assert (run.scanned, run.yara_only) == (5, 1)
        assert sorted(f.queue_id for f in run.findings) == ["q0", "q1", "q2", "q3"]
        again = retro_scan(settings, stores, since=SINCE, actor="test", pool=RetroPool(settings.home, workers=0))
        assert again.yara_only == 0 and again.skipped == 1  # "lone" is judged clean under the new rule version
    finally:
        stores.close()
