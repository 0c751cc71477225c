"""Incidents and emergency switches through the REST API and the console pages: roles, CSRF, effects."""

from __future__ import annotations

import json
import sys

import pytest

from kakuri.hunt.verdicts import HuntRecord
from kakuri.model import Finding
from kakuri.receive.spool import Spool
from kakuri.respond.emergency import active_modes
from kakuri.web.app import create_app
from tests.web.factories import logged_in, store_message

HUNT = [
    {"account": "taro@tokai-keiki.example", "verdict": "infected", "score": 8.0, "evidence": ["burst"],
     "notify": ["kondo@partner.example", "Sato@Other.example"]},
    HuntRecord(kind="host", key="10.20.1.5", score=9.0, verdict="infected", first_seen=1_764_000_000.0,  # as hunt writes it
               findings=[Finding("HUNT_FEED_C2", "hunt", evidence={"dst": "192.0.2.10:8080"})],
               notify=["kondo@partner.example"], linked=["taro@tokai-keiki.example"]).as_json(),
    {"host": "10.20.1.9", "verdict": "clean", "score": 0.1, "evidence": [], "notify": ["x@y.example"]},
]


@pytest.fixture
def app(settings, stores):
    settings.__pydantic_extra__["respond"] = {
        "warning": {"from_address": "security@tokai-keiki.example", "organisation_ja": "東海計器株式会社",
                    "organisation_en": "Tokai Keiki", "rate_per_minute": 0},
        "isolation": [{"name": "edr", "kind": "command", "argv": [sys.executable, "-c", "print('isolated {host}')"]}],
    }
    settings.org = settings.org.model_copy(update={"our_domains": ["tokai-keiki.example"]})
    return create_app(settings, stores=stores)


def _as(tokens, role):
    return {"Authorization": f"Bearer {tokens[role]}"}


def _open(client, tokens, title="Emotet in sales") -> int:
    response = client.post("/api/v1/incidents", json={"title": title}, headers=_as(tokens, "analyst"))
    assert response.status_code == 201
    return response.json()["id"]


def test_analyst_opens_links_annotates_and_imports_a_hunt_viewer_only_reads(client, tokens):
    assert client.post("/api/v1/incidents", json={"title": "x y z"}, headers=_as(tokens, "viewer")).status_code == 403
    assert client.get("/api/v1/incidents").status_code == 401
    incident = _open(client, tokens)
    analyst = _as(tokens, "analyst")
    assert client.post(f"/api/v1/incidents/{incident}/links", json={"kind": "message", "values": ["Q1", "Q1", " "]},
                       headers=analyst).json()["added"] == 1
    assert client.post(f"/api/v1/incidents/{incident}/notes", json={"text": "PC unplugged"}, headers=analyst).status_code == 200
    counts = client.post(f"/api/v1/incidents/{incident}/hunt", json=HUNT, headers=analyst).json()
    assert (counts["host"], counts["account"], counts["contact"]) == (1, 1, 2)
    detail = client.get(f"/api/v1/incidents/{incident}", headers=_as(tokens, "viewer")).json()
    assert {(l["kind"], l["value"]) for l in detail["links"]} >= {("host", "10.20.1.5"), ("contact", "sato@other.example")}
    assert {l["value"]: l["note"] for l in detail["links"]}["10.20.1.5"] == "score 9.0: HUNT_FEED_C2 (dst=192.0.2.10:8080)"
    assert [e["kind"] for e in detail["timeline"]][:3] == ["opened", "linked", "note"]
    assert (detail["hosts"], detail["accounts"], detail["contacts"]) == (1, 1, 2)
    listed = client.get("/api/v1/incidents?status=open", headers=_as(tokens, "viewer")).json()
    assert [i["id"] for i in listed] == [incident]
    assert client.get("/api/v1/incidents/999", headers=analyst).status_code == 404
    assert client.post(f"/api/v1/incidents/{incident}/links", json={"kind": "printer", "values": ["x"]},
                       headers=analyst).status_code == 422


def test_warning_preview_then_send_writes_gateway_spool_entries_once(client, tokens, settings):
    incident = _open(client, tokens)
    analyst = _as(tokens, "analyst")
    client.post(f"/api/v1/incidents/{incident}/hunt", json=HUNT, headers=analyst)
    assert client.get(f"/api/v1/incidents/{incident}/warning", headers=_as(tokens, "viewer")).status_code == 403
    preview = client.get(f"/api/v1/incidents/{incident}/warning?language=ja", headers=analyst).json()
    assert preview["recipients"] == ["kondo@partner.example", "sato@other.example"]
    assert preview["subject"].startswith("【重要】") and preview["charset"] == "iso-2022-jp"
    assert "東海計器株式会社" in preview["text"] and "Dear" not in preview["text"]
    spool = Spool(settings.home / "spool")
    assert spool.queue_ids() == []  # a preview sends nothing

    sent = client.post(f"/api/v1/incidents/{incident}/warn", json={}, headers=analyst)
    assert sent.status_code == 202 and sent.json() == {"queued": 2}
    entries = [spool.read(q) for q in Spool(settings.home / "spool").queue_ids()]
    assert sorted(e.envelope.rcpt_tos[0] for e in entries) == ["kondo@partner.example", "sato@other.example"]
    assert {(e.origin, e.verdict["action"], e.envelope.direction.value) for e in entries} == {("warning", "deliver", "outbound")}
    detail = client.get(f"/api/v1/incidents/{incident}", headers=analyst).json()
    assert {w["recipient"]: w["status"] for w in detail["warnings"]} == {
        "kondo@partner.example": "sent", "sato@other.example": "sent"}
    spool.refresh()
    assert client.post(f"/api/v1/incidents/{incident}/warn", json={}, headers=analyst).json() == {"queued": 0}
    assert len(spool.refresh()) == 0  # nobody is warned twice


def test_isolation_dry_run_for_analysts_real_call_for_admins(client, tokens):
    incident = _open(client, tokens)
    body = {"host": "10.20.1.5", "reason": "beaconing", "dry_run": True}
    dry = client.post(f"/api/v1/incidents/{incident}/isolate", json=body, headers=_as(tokens, "analyst")).json()
    assert dry[0]["dry_run"] and "would run" in dry[0]["detail"]
    real = {**body, "dry_run": False}
    assert client.post(f"/api/v1/incidents/{incident}/isolate", json=real, headers=_as(tokens, "analyst")).status_code == 403
    done = client.post(f"/api/v1/incidents/{incident}/isolate", json=real, headers=_as(tokens, "admin")).json()
    assert done[0]["ok"] and "isolated 10.20.1.5" in done[0]["detail"]
    timeline = client.get(f"/api/v1/incidents/{incident}", headers=_as(tokens, "viewer")).json()["timeline"]
    assert [e["text"].split(": ")[-1] for e in timeline if e["kind"] == "isolation"] == ["dry run", "ok"]


def test_report_download_counts_linked_mail(client, tokens, stores):
    incident = _open(client, tokens, "Outbreak report test")
    queue_id = store_message(stores)
    client.post(f"/api/v1/incidents/{incident}/links", json={"kind": "message", "values": [queue_id]},
                headers=_as(tokens, "analyst"))
    md = client.get(f"/api/v1/incidents/{incident}/report?format=md", headers=_as(tokens, "viewer"))
    assert md.headers["content-type"].startswith("text/markdown")
    assert "attachment" in md.headers["content-disposition"]
    assert "Outbreak report test" in md.text and "| quarantined or rejected | 1 |" in md.text
    html = client.get(f"/api/v1/incidents/{incident}/report?format=html", headers=_as(tokens, "viewer"))
    assert html.text.lstrip().lower().startswith("<!doctype html")


def test_emergency_on_by_analyst_off_only_by_admin_and_on_the_incident_timeline(client, tokens, stores):
    incident = _open(client, tokens)
    on = client.post("/api/v1/emergency/on", json={"kind": "archives", "reason": "outbreak", "incident_id": incident},
                     headers=_as(tokens, "analyst"))
    assert on.status_code == 200 and on.json()["kind"] == "archives"
    assert [m["kind"] for m in client.get("/api/v1/emergency", headers=_as(tokens, "viewer")).json()] == ["archives"]
    assert client.post("/api/v1/emergency/on", json={"kind": "hold_sender", "reason": "infected"},
                       headers=_as(tokens, "analyst")).status_code == 422  # which sender?
    off = {"kind": "archives", "reason": "cleaned up"}
    assert client.post("/api/v1/emergency/off", json=off, headers=_as(tokens, "analyst")).status_code == 403
    assert client.post("/api/v1/emergency/off", json=off, headers=_as(tokens, "admin")).json() == {"closed": 1}
    with stores.sessions() as db:
        assert active_modes(db) == []
    timeline = [e["text"] for e in client.get(f"/api/v1/incidents/{incident}", headers=_as(tokens, "viewer")).json()["timeline"]]
    assert "archives ON: outbreak" in timeline and "archives OFF: cleaned up" in timeline


def test_pages_need_the_csrf_token_and_switch_in_one_click(app, tokens, stores):
    browser, csrf = logged_in(app, "analyst")
    form = {"kind": "hold_outbound", "reason": "stop the spread"}
    assert browser.post("/emergency/on", data=form, follow_redirects=False).status_code == 403
    with stores.sessions() as db:
        assert active_modes(db) == []
    done = browser.post("/emergency/on", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    page = browser.get(done.headers["location"])
    assert "hold_outbound ON" in page.text and 'id="mode-hold_outbound"' in page.text
    assert "/emergency/off" not in page.text  # an analyst sees no switch-off button
    assert browser.post("/emergency/off", data={**form, "csrf_token": csrf}).status_code == 403

    opened = browser.post("/incidents", data={"title": "Emotet", "csrf_token": csrf}, follow_redirects=False)
    url = opened.headers["location"]
    upload = browser.post(f"{url}/hunt", data={"csrf_token": csrf}, files={"file": ("hunt.json", json.dumps(HUNT), "application/json")})
    assert "linked 1 host(s), 1 account(s), 2 contact(s)" in upload.text
    bad = browser.post(f"{url}/hunt", data={"csrf_token": csrf}, files={"file": ("x.json", b"{not json", "application/json")})
    assert bad.status_code == 422
    preview = browser.get(f"{url}?preview=both")
    assert 'id="warning-preview"' in preview.text and "kondo@partner.example" in preview.text
    viewer, _ = logged_in(app, "viewer")
    assert 'id="warning-preview"' not in viewer.get(f"{url}?preview=both").text
    assert viewer.post(f"{url}/note", data={"text": "x"}).status_code == 403


def test_all_clear_releases_only_the_incidents_held_mail_dry_run_first(client, tokens, stores, settings):
    taro = store_message(stores, action="hold", direction="outbound", mail_from="taro@tokai-keiki.example", symbols=())
    store_message(stores, action="hold", direction="outbound", mail_from="jiro@tokai-keiki.example", symbols=())
    infected = store_message(stores, mail_from="taro@tokai-keiki.example")  # quarantined: stays unless asked
    incident = _open(client, tokens)
    analyst = _as(tokens, "analyst")
    client.post(f"/api/v1/incidents/{incident}/hunt", json=HUNT, headers=analyst)
    url = f"/api/v1/incidents/{incident}/release"
    dry = client.post(url, json={"reason": "all clear", "dry_run": True}, headers=analyst).json()
    assert dry == {"queue_ids": [taro], "failed": {}}
    assert Spool(settings.home / "spool").queue_ids() == []
    assert client.post(url, json={"reason": "x"}, headers=analyst).status_code == 422  # a real reason
    done = client.post(url, json={"reason": "all clear"}, headers=analyst).json()
    assert done["queue_ids"] == [taro] and Spool(settings.home / "spool").queue_ids() == [taro]
    detail = client.get(f"/api/v1/messages/{taro}", headers=analyst).json()
    assert detail["state"] == "released" and detail["history"][-1]["actor"] == "web:analyst"
    assert client.get(f"/api/v1/messages/{infected}", headers=analyst).json()["state"] == "quarantined"
    timeline = client.get(f"/api/v1/incidents/{incident}", headers=analyst).json()["timeline"]
    assert timeline[-1]["kind"] == "release" and "1 message(s) released in bulk: all clear" in timeline[-1]["text"]
