"""An incident's indicators exported as STIX 2.1 or MISP import into a fresh data folder as the same indicators."""

from __future__ import annotations

import json

import pytest
import stix2
from sqlalchemy import select
from stix2patterns.validator import run_validator
from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.respond import incidents as svc
from kakuri.respond.iocx import incident_iocs
from kakuri.settings import load_settings
from kakuri.store.config import open_stores
from kakuri.store.indicators import Indicator

HASH = "a" * 63 + "1"


def _incident_with_indicators(home) -> set[tuple[str, str]]:
    stores = open_stores(load_settings(home))
    try:
        with stores.sessions() as session:
            inc = svc.open_incident(session, title="Emotet: hijacked replies", actor="test")
            for value in (f"sha256:{HASH}", "url:http://198.51.100.7/wp-content/inv.php?id=1'2",
                          "sender:billing@supplier.example", "subject:請求書 11月分"):
                svc.link(session, inc.id, kind="indicator", value=value, actor="test")
            svc.import_hunt(session, inc.id, [{
                "host": "10.20.1.5", "verdict": "infected", "score": 20,
                "evidence": [{"symbol": "HUNT_FEED_C2", "evidence": {"dst": "203.0.113.9:8080"}}]}], actor="test")
            session.commit()
            return {i.key for i in incident_iocs(session, inc.id)}
    finally:
        stores.close()


def _imported(home) -> set[tuple[str, str]]:
    stores = open_stores(load_settings(home))
    try:
        with stores.sessions() as session:
            return set(session.execute(select(Indicator.kind, Indicator.value)).tuples())
    finally:
        stores.close()


@pytest.mark.parametrize("fmt", ["stix", "misp"])
def test_incident_export_imports_into_a_fresh_folder_as_the_same_indicators(tmp_path, fmt):
    source, fresh = tmp_path / "a", tmp_path / "b"
    expected = _incident_with_indicators(source)
    assert expected == {("sha256", HASH), ("url", "http://198.51.100.7/wp-content/inv.php?id=1'2"),
                        ("email", "billing@supplier.example"), ("subject", "請求書 11月分"), ("ip", "203.0.113.9")}
    out = tmp_path / f"incident.{fmt}.json"
    runner = CliRunner()
    result = runner.invoke(app, ["--home", str(source), "iocs", "export", "--incident", "1", "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["--home", str(fresh), "iocs", "import", str(out), "--no-retro-scan"])
    assert result.exit_code == 0, result.output
    assert _imported(fresh) == expected
    hashes = (fresh / "rules" / "sha256" / "kakuri-imported.txt").read_text()
    assert HASH in hashes  # the scanner's own list follows the import


def test_stix_export_is_a_valid_bundle_for_the_stix2_library(tmp_path):
    home = tmp_path / "a"
    _incident_with_indicators(home)
    result = CliRunner().invoke(app, ["--home", str(home), "iocs", "export", "--incident", "1"])
    assert result.exit_code == 0, result.output
    bundle = stix2.parse(result.output, allow_custom=False)  # strict: unknown properties are errors
    indicators = [o for o in bundle.objects if o.type == "indicator"]
    assert len(indicators) == 5
    for indicator in indicators:
        assert run_validator(indicator.pattern, stix_version="2.1") == []
    assert any(o.type == "report" for o in bundle.objects)
    assert json.loads(result.output)["type"] == "bundle"


def test_revoked_and_expired_stix_indicators_are_not_imported():
    from datetime import UTC, datetime, timedelta

    from kakuri.respond.iocx.stix import read_bundle

    now = datetime.now(UTC)
    live = stix2.Indicator(pattern="[domain-name:value = 'evil.example']", pattern_type="stix", valid_from=now)
    revoked = stix2.Indicator(pattern="[domain-name:value = 'old.example']", pattern_type="stix", valid_from=now, revoked=True)
    expired = stix2.Indicator(pattern="[url:value = 'http://gone.example/x']", pattern_type="stix",
                              valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1))
    both = stix2.Indicator(pattern="[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e'] OR [ipv4-addr:value = '192.0.2.1']",
                           pattern_type="stix", valid_from=now)
    _id, iocs = read_bundle(stix2.Bundle(objects=[live, revoked, expired, both]).serialize())
    assert {i.key for i in iocs} == {("domain", "evil.example"), ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
                                     ("ip", "192.0.2.1")}


def test_misp_import_reads_objects_composites_and_skips_context_attributes():
    from kakuri.respond.iocx.misp import read_events

    event = {"response": [{"Event": {"uuid": "u1", "info": "Emotet", "Attribute": [
        {"type": "ip-dst|port", "value": "203.0.113.9|8080", "to_ids": True},
        {"type": "domain", "value": "victim.example", "to_ids": False},
    ], "Object": [{"name": "file", "Attribute": [
        {"type": "filename|sha256", "value": f"inv.xlsm|{HASH}", "to_ids": True},
        {"type": "hostname", "value": "Dl.Evil.Example", "to_ids": "1"},
    ]}]}}]}
    [(uuid, iocs)] = read_events(json.dumps(event))
    assert uuid == "u1"
    assert {i.key for i in iocs} == {("ip", "203.0.113.9"), ("sha256", HASH), ("domain", "dl.evil.example")}


def test_misp_import_refuses_what_is_not_an_event():
    from kakuri.respond.iocx.misp import read_events

    with pytest.raises(ValueError, match="not a MISP event"):
        read_events('{"hello": 1}')
