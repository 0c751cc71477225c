"""GET /api/v1/nodes on the embedded SQLite store: one node, no registry (tests/cluster/ covers PostgreSQL)."""

from __future__ import annotations


def test_nodes_on_sqlite_say_there_is_no_shared_registry(client, tokens):
    response = client.get("/api/v1/nodes", headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert response.status_code == 200
    assert response.json() == {"shared": False, "lease_seconds": 10.0, "unowned_entries": 0, "nodes": []}
    assert client.get("/api/v1/nodes").status_code == 401
