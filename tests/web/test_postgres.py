"""The console's own SQL (keyset paging, JSON symbol filters, dashboard unnesting) on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kakuri.store.config import open_stores
from kakuri.web.app import create_app
from tests.store.conftest import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.web.factories import add_users, store_message

pytestmark = pytest.mark.postgres


def test_search_paging_and_dashboard_on_postgresql(settings, postgres_url):  # noqa: F811
    settings.__pydantic_extra__["store"] = {"url": postgres_url}
    stores = open_stores(settings)
    assert stores.engine.dialect.name == "postgresql"
    tokens = add_users(stores)
    now = datetime.now(UTC)
    made = [store_message(stores, received_at=now - timedelta(minutes=i), symbols=("URL_LURE", "FILE_SCRIPT"))
            for i in range(5)]
    store_message(stores, received_at=now, symbols=("IMPERSONATION_DISPLAY_NAME",), findings=[],
                  from_header="Suzuki Ichiro <x@evil.example>")
    client = TestClient(create_app(settings, stores=stores))
    headers = {"Authorization": f"Bearer {tokens['viewer']}"}
    first = client.get("/api/v1/quarantine", params={"symbol": "URL_LURE", "limit": 3}, headers=headers).json()
    second = client.get("/api/v1/quarantine", params={"symbol": "URL_LURE", "limit": 3,
                                                      "cursor": first["next_cursor"]}, headers=headers).json()
    assert [m["queue_id"] for m in first["items"] + second["items"]] == made
    data = client.get("/api/v1/dashboard", headers=headers).json()
    assert {c["key"]: c["count"] for c in data["symbols"]} == {
        "URL_LURE": 5, "FILE_SCRIPT": 5, "IMPERSONATION_DISPLAY_NAME": 1}
    assert sum(sum(b["counts"].values()) for b in data["per_hour"]) == 6
    assert data["impersonated"] == [{"key": "Suzuki Ichiro", "count": 1}]
    stores.close()
