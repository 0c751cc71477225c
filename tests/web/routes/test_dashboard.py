"""Dashboard counts (API) and the SVG charts (page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.web.factories import logged_in, store_message


def test_counts_per_hour_symbol_family_recipient_and_impersonated_name(app, client, tokens, stores):
    now = datetime.now(UTC)
    store_message(stores, received_at=now, rcpts=("ceo@tokai-keiki.example",),
                  symbols=("IMPERSONATION_DISPLAY_NAME", "URL_LURE"), from_header="Suzuki Ichiro <x@evil.example>",
                  findings=[{"symbol": "IMPERSONATION_DISPLAY_NAME", "detector": "impersonation",
                             "evidence": {"impersonated": "鈴木 一郎"}}, {"symbol": "URL_LURE", "detector": "urls"}])
    store_message(stores, received_at=now, rcpts=("ceo@tokai-keiki.example",), symbols=("IMPERSONATION_DISPLAY_NAME",),
                  from_header="Suzuki Ichiro <y@evil.example>", findings=[])
    store_message(stores, received_at=now - timedelta(hours=2), action="deliver", symbols=(), findings=[],
                  rcpts=("staff@tokai-keiki.example",))
    store_message(stores, received_at=now - timedelta(hours=30), symbols=("URL_LURE",))  # outside 24 h
    data = client.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {tokens['viewer']}"}).json()
    totals: dict[str, int] = {}
    for bucket in data["per_hour"]:
        for action, count in bucket["counts"].items():
            totals[action] = totals.get(action, 0) + count
    assert totals == {"quarantine": 2, "deliver": 1}
    assert len(data["per_hour"]) == 24
    assert {c["key"]: c["count"] for c in data["symbols"]} == {"IMPERSONATION_DISPLAY_NAME": 2, "URL_LURE": 1}
    assert data["recipients"] == [{"key": "ceo@tokai-keiki.example", "count": 2}]
    assert {c["key"]: c["count"] for c in data["impersonated"]} == {"鈴木 一郎": 1, "Suzuki Ichiro": 1}
    page_client, _ = logged_in(app, "viewer")
    page = page_client.get("/").text
    assert page.count("<svg") == 5 and "IMPERSONATION_DISPLAY_NAME" in page


def test_chart_labels_are_escaped(app, tokens, stores):
    store_message(stores, received_at=datetime.now(UTC), symbols=("IMPERSONATION_X",),
                  from_header='"<script>alert(1)</script>" <z@evil.example>', findings=[])
    client, _ = logged_in(app, "viewer")
    page = client.get("/").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


def test_trace_finds_a_message_by_recipient_and_shows_delivery_state(client, tokens, stores):
    qid = store_message(stores, action="deliver", symbols=(), rcpts=("kato@tokai-keiki.example",))
    found = client.get("/api/v1/trace", params={"recipient": "kato@"},
                       headers={"Authorization": f"Bearer {tokens['viewer']}"}).json()["items"]
    assert [(m["queue_id"], m["recipients"][0]["status"]) for m in found] == [(qid, "pending")]


def test_trace_pages_back_by_cursor_through_ties(client, tokens, stores):
    now = datetime.now(UTC)
    made = [store_message(stores, received_at=now - timedelta(minutes=i // 2), subject=f"見積書 {i}") for i in range(7)]
    store_message(stores, received_at=now, subject="other")
    headers = {"Authorization": f"Bearer {tokens['viewer']}"}
    seen, cursor = [], None
    for _ in range(4):
        params = {"subject": "見積", "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/trace", params=params, headers=headers).json()
        seen += [m["queue_id"] for m in body["items"]]
        cursor = body["next_cursor"]
    assert cursor is None
    # Newest first; messages received in the same minute come in descending queue id.
    assert seen == [made[1], made[0], made[3], made[2], made[5], made[4], made[6]]
    assert client.get("/api/v1/trace", params={"cursor": "not a cursor"}, headers=headers).status_code == 422
