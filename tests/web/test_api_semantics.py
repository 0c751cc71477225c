"""API semantics: a failed action is a 4xx with a JSON error, every error is in the OpenAPI document,
emergency values are validated, /docs serves the API page to logged-in users, tokens expire and are listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from kakuri.cli.main import app as cli
from kakuri.store import accounts
from tests.web.factories import logged_in, store_message


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_release_and_delete_fail_with_404_or_409_and_json(client, stores, tokens):
    headers = bearer(tokens["analyst"])
    reason = {"reason": "checked"}
    unknown = client.post("/api/v1/quarantine/NOPE1/release", json=reason, headers=headers)
    assert unknown.status_code == 404 and "NOPE1" in unknown.json()["detail"]
    queue_id = store_message(stores)
    assert client.post(f"/api/v1/quarantine/{queue_id}/release", json=reason, headers=headers).status_code == 200
    again = client.post(f"/api/v1/quarantine/{queue_id}/release", json=reason, headers=headers)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/json")
    assert "ok" not in again.json() and again.json()["detail"]
    assert client.post(f"/api/v1/quarantine/{queue_id}/delete", json=reason, headers=headers).status_code == 409
    bulk = client.post("/api/v1/quarantine/bulk", json={"operation": "release", "queue_ids": [queue_id, "NOPE2"],
                                                         "reason": "checked"}, headers=headers)
    assert bulk.status_code == 200 and [r["ok"] for r in bulk.json()["results"]] == [False, False]  # per message


def test_openapi_lists_the_error_responses(client):
    doc = client.get("/api/v1/openapi.json").json()
    release = doc["paths"]["/api/v1/quarantine/{queue_id}/release"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(release)
    assert release["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)


def test_unknown_incident_isolation_is_404_and_bad_host_or_reason_422(client, tokens):
    response = client.post("/api/v1/incidents/999/isolate", json={"host": "10.20.1.5", "reason": "checked", "dry_run": True},
                           headers=bearer(tokens["admin"]))
    assert response.status_code == 404
    created = client.post("/api/v1/incidents", json={"title": "isolation test"}, headers=bearer(tokens["admin"]))
    assert created.status_code == 201, created.text
    for body in ({"host": "--release-all", "reason": "checked"}, {"host": "10.20.1.5", "reason": "--all hosts"}):
        response = client.post(f"/api/v1/incidents/{created.json()['id']}/isolate", json={**body, "dry_run": True}, headers=bearer(tokens["admin"]))
        assert response.status_code == 422 and response.json()["detail"], body


def test_hold_host_takes_an_ip_address_only(client, tokens, settings):
    headers = bearer(tokens["analyst"])
    for bad in ("not-an-ip", "10.0.0.1; rm", "10.0.0.300", "[/] 10.0.0.1"):
        response = client.post("/api/v1/emergency/on", json={"kind": "hold_host", "value": bad, "reason": "checked"}, headers=headers)
        assert response.status_code == 422 and "client IP address" in response.json()["detail"], bad
    ok = client.post("/api/v1/emergency/on", json={"kind": "hold_host", "value": " 2001:DB8::5 ", "reason": "checked"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["value"] == "2001:db8::5"
    bad_sender = client.post("/api/v1/emergency/on", json={"kind": "hold_sender", "value": "a@b\nc", "reason": "checked"}, headers=headers)
    assert bad_sender.status_code == 422
    result = CliRunner().invoke(cli, ["--home", str(settings.home), "emergency", "on", "hold_host", "pc01", "-r", "checked"])
    assert result.exit_code == 2 and "client IP address" in result.output


def test_docs_page_for_logged_in_users_only(app, tokens):
    from fastapi.testclient import TestClient

    anonymous = TestClient(app).get("/docs", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    client, csrf = logged_in(app, "viewer")
    page = client.get("/docs")
    assert page.status_code == 200 and csrf in page.text
    assert '<script src="/static/swagger/swagger-ui-bundle.js">' in page.text and "<script>" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    bundle = client.get("/static/swagger/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    assert client.get("/static/api-docs.js").status_code == 200


def test_tokens_expire_are_listed_without_values_and_can_be_revoked(client, stores, tokens):
    admin = bearer(tokens["admin"])
    issued = client.post("/api/v1/users/viewer/tokens", json={"label": "ci", "expires_days": 1}, headers=admin)
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    listed = client.get("/api/v1/tokens", headers=admin).json()
    mine = [t for t in listed if t["label"] == "ci"]
    assert len(mine) == 1 and mine[0]["user"] == "viewer" and not mine[0]["expired"] and mine[0]["expires_at"]
    assert token not in str(listed)
    with stores.sessions.begin() as db:
        row = db.get(accounts.ApiToken, mine[0]["id"])
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert [t["expired"] for t in client.get("/api/v1/tokens", headers=admin).json() if t["label"] == "ci"] == [True]
    assert client.delete(f"/api/v1/tokens/{mine[0]['id']}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/tokens/{mine[0]['id']}", headers=admin).status_code == 404
    assert client.get("/api/v1/tokens", headers=bearer(tokens["viewer"])).status_code == 403
    assert client.post("/api/v1/users/viewer/tokens", json={"expires_days": 0}, headers=admin).status_code == 422


def test_cli_issues_expiring_tokens_and_lists_them(settings, stores, tokens):
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    issued = runner.invoke(cli, [*home, "user", "token", "viewer", "--label", "cron", "--expires-days", "30"])
    assert issued.exit_code == 0 and issued.output.startswith(accounts.TOKEN_PREFIX)
    listed = runner.invoke(cli, [*home, "user", "tokens", "viewer"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "cron" in listed.output and "never" in listed.output  # the fixture's token
    assert issued.output.strip() not in listed.output
    token_id = max(t.id for t, _ in _tokens(stores))
    assert runner.invoke(cli, [*home, "user", "revoke-token", str(token_id)]).exit_code == 0
    assert runner.invoke(cli, [*home, "user", "revoke-token", str(token_id)]).exit_code == 1


def _tokens(stores):
    with stores.sessions() as db:
        return accounts.list_tokens(db)
