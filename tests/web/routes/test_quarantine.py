"""Quarantine search, detail, preview, download, release and delete, through the API and the pages."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from kakuri.store.messages import Message
from tests.builders import make_message
from tests.web.factories import logged_in, store_message

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 12:00 JST


def _api(client, tokens, role="analyst"):
    return {"Authorization": f"Bearer {tokens[role]}"}


def _ids(response):
    return [item["queue_id"] for item in response.json()["items"]]


def test_filters_select_by_sender_recipient_symbol_direction_time_and_text(client, tokens, stores):
    a = store_message(stores, mail_from="x@evil.example", rcpts=("sato@tokai-keiki.example",), received_at=T0,
                      symbols=("MACRO_AUTOEXEC",), subject="Invoice 42")
    b = store_message(stores, mail_from="y@other.example", from_header="Y <y@other.example>",
                      rcpts=("ito@tokai-keiki.example",), direction="outbound",
                      received_at=T0 + timedelta(hours=2), symbols=("URL_LURE",), subject="Hello")
    headers = _api(client, tokens, "viewer")
    get = lambda **p: _ids(client.get("/api/v1/quarantine", params=p, headers=headers))  # noqa: E731
    assert get(sender="EVIL.example") == [a]
    assert get(recipient="ito@tokai-keiki.example") == [b]
    assert get(recipient="@tokai-keiki") == [b, a]
    assert get(symbol="macro_autoexec") == [a]
    assert get(symbol="MACRO") == []  # a whole symbol, not a fragment
    assert get(direction="outbound") == [b]
    assert get(since=(T0 + timedelta(hours=1)).isoformat()) == [b]
    assert get(until="2026-11-20T04:00:00+00:00") == [a]
    assert get(q="invoice") == [a]
    assert get(q=f"<{b}@test>") == [b]
    assert get(state="released") == []


def test_keyset_pages_cover_every_message_once_in_order(client, tokens, stores):
    made = [store_message(stores, received_at=T0 + timedelta(minutes=i // 2)) for i in range(7)]  # ties too
    headers, seen, cursor = _api(client, tokens, "viewer"), [], None
    while True:
        page = client.get("/api/v1/quarantine", params={"limit": 3, **({"cursor": cursor} if cursor else {})},
                          headers=headers).json()
        seen += [item["queue_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 7
    assert seen == sorted(made, key=lambda q: (made.index(q) // 2, q), reverse=True)  # newest, then id


def test_damaged_cursor_is_a_client_error(client, tokens):
    response = client.get("/api/v1/quarantine", params={"cursor": "!!!"}, headers=_api(client, tokens))
    assert response.status_code == 422


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def test_detail_shows_envelope_verdict_and_the_attachment_tree_with_hashes(client, tokens, stores):
    payload = b"MZ" + b"\0" * 200
    raw = make_message(subject="見積書", attachments=[("docs.zip", _zip("report.exe", payload), "application/zip")])
    qid = store_message(stores, raw=raw, findings=[
        {"symbol": "ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE", "detector": "unpack", "part": "docs.zip",
         "evidence": {"password_source": "body"}}])
    detail = client.get(f"/api/v1/messages/{qid}", headers=_api(client, tokens, "viewer")).json()
    assert detail["mail_from"] == "attacker@evil.example" and detail["client_ip"] == "203.0.113.9"
    assert detail["reasons"] == ["score 12.0 >= quarantine 10"]
    finding = detail["findings"][0]
    assert finding["evidence"] == {"password_source": "body"} and finding["score"] > 0
    (archive,) = detail["attachments"]
    assert archive["filename"] == "docs.zip"
    (member,) = archive["children"]
    assert member["filename"] == "report.exe" and member["size"] == len(payload)
    import hashlib

    assert member["sha256"] == hashlib.sha256(payload).hexdigest()
    assert ("Subject", "見積書") in [tuple(h) for h in detail["headers"]]
    assert [e["event"] for e in detail["history"]] == ["received"]


def test_html_body_is_only_ever_shown_as_text(app, tokens, stores):
    html = ('<html><body><p>Please pay <b>now</b></p><script>alert(1)</script>'
            '<img src="http://tracker.example/p.gif" onerror="alert(2)"></body></html>')
    qid = store_message(stores, raw=make_message(body="plain part", html=html))
    client, _ = logged_in(app, "analyst")
    page = client.get(f"/quarantine/{qid}").text
    assert "Please pay" in page and "now" in page
    assert "<script>alert" not in page and "tracker.example" not in page and "onerror" not in page
    text = client.get(f"/api/v1/messages/{qid}/text").json()["text"]
    assert "Please pay now" in text and "alert" not in text


def test_viewer_sees_the_verdict_but_not_the_content(app, tokens, stores):
    qid = store_message(stores, raw=make_message(body="secret salary table"))
    client, _ = logged_in(app, "viewer")
    page = client.get(f"/quarantine/{qid}").text
    assert "ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE" in page
    assert "secret salary table" not in page


def test_raw_download_cannot_open_inline_and_is_audited(client, tokens, stores):
    raw = make_message(html="<script>alert(1)</script>")
    qid = store_message(stores, raw=raw)
    response = client.get(f"/api/v1/messages/{qid}/raw", headers=_api(client, tokens))
    assert response.content == raw
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    audit = client.get("/api/v1/audit", params={"queue_id": qid}, headers=_api(client, tokens)).json()["items"]
    assert (audit[0]["event"], audit[0]["actor"]) == ("downloaded", "web:analyst")


@pytest.mark.parametrize("reason", [None, "", "  ", "ok"])
def test_release_needs_a_reason(client, tokens, stores, reason):
    qid = store_message(stores)
    body = {} if reason is None else {"reason": reason}
    response = client.post(f"/api/v1/quarantine/{qid}/release", json=body, headers=_api(client, tokens))
    assert response.status_code == 422
    with stores.sessions() as db:
        assert db.get(Message, qid).state == "quarantined"


def test_release_is_audited_with_who_and_why_and_happens_once(client, tokens, stores):
    qid = store_message(stores)
    url, headers = f"/api/v1/quarantine/{qid}/release", _api(client, tokens)
    first = client.post(url, json={"reason": "invoice from a real partner"}, headers=headers).json()
    assert first == {"queue_id": qid, "ok": True, "state": "released", "error": None}
    again = client.post(url, json={"reason": "again please"}, headers=headers)
    assert again.status_code == 409 and "released" in again.json()["detail"]
    events = client.get("/api/v1/audit", params={"queue_id": qid, "event": "released"}, headers=headers).json()
    assert [(e["actor"], e["reason"]) for e in events["items"]] == [("web:analyst", "invoice from a real partner")]


def test_bulk_reports_each_message(client, tokens, stores):
    a, b = store_message(stores), store_message(stores)
    response = client.post("/api/v1/quarantine/bulk", headers=_api(client, tokens),
                           json={"operation": "delete", "queue_ids": [a, b, "NOPE1"], "reason": "spam wave"})
    results = {r["queue_id"]: r for r in response.json()["results"]}
    assert results[a]["state"] == results[b]["state"] == "deleted"
    assert results["NOPE1"]["ok"] is False
    with stores.sessions() as db:
        assert db.get(Message, a).blob_sha256 is None


def test_bulk_form_releases_the_ticked_messages(app, tokens, stores):
    a, b, untouched = store_message(stores), store_message(stores), store_message(stores)
    client, csrf = logged_in(app, "analyst")
    response = client.post("/quarantine/bulk", data={"csrf_token": csrf, "operation": "release",
                                                     "queue_id": [a, b], "reason": "partner confirmed"})
    assert response.status_code == 200 and "2/2 release" in response.text
    with stores.sessions() as db:
        assert [db.get(Message, q).state for q in (a, b, untouched)] == ["released", "released", "quarantined"]


def test_pages_show_times_in_the_viewers_zone(app, tokens, stores):
    store_message(stores, received_at=T0)
    client, csrf = logged_in(app, "viewer")
    assert "2026-11-20 12:00:00 JST" in client.get("/quarantine").text
    client.post("/profile", data={"csrf_token": csrf, "time_zone": "UTC"})
    assert "2026-11-20 03:00:00 UTC" in client.get("/quarantine").text


def test_page_time_filter_reads_the_viewers_zone(app, tokens, stores):
    early = store_message(stores, received_at=T0, subject="early one")
    store_message(stores, received_at=T0 + timedelta(hours=3), subject="late one")
    client, _ = logged_in(app, "viewer")
    page = client.get("/quarantine", params={"until": "2026-11-20T13:00"}).text  # 13:00 JST = 04:00 UTC
    assert "early one" in page and "late one" not in page and early in page


def test_japanese_labels_for_japanese_browsers(app, tokens):
    client, _ = logged_in(app, "viewer")
    assert "隔離メール" in client.get("/quarantine", headers={"Accept-Language": "ja,en;q=0.5"}).text
    assert "Quarantine" in client.get("/quarantine", headers={"Accept-Language": "en-US"}).text


def test_release_hands_the_message_to_the_gateways_spool(client, tokens, stores, settings):
    from kakuri.receive.spool import Spool

    qid = store_message(stores)
    client.post(f"/api/v1/quarantine/{qid}/release", json={"reason": "partner confirmed"},
                headers=_api(client, tokens))
    entry = Spool(settings.home / "spool").read(qid)
    assert entry.origin == "release" and entry.envelope.rcpt_tos == ("hanako@tokai-keiki.example",)


def test_history_links_the_other_half_of_a_ppap_pair(app, tokens, stores):
    from kakuri.store.messages import AuditEvent

    archive, password = store_message(stores), store_message(stores, subject="パスワード")
    with stores.sessions() as db:
        db.add(AuditEvent(queue_id=password, actor="ppap", event="quarantined", detail={"related": archive},
                          reason=f"states the password of {archive}"))
        db.commit()
    client, _ = logged_in(app, "viewer")
    page = client.get(f"/quarantine/{password}").text
    assert f'<a class="related" href="/quarantine/{archive}">{archive}</a>' in page
    assert 'class="related"' not in client.get(f"/quarantine/{archive}").text
