"""Account administration through the API and the admin pages."""

from __future__ import annotations

import re

from tests.web.factories import PASSWORD, logged_in


def _admin(tokens):
    return {"Authorization": f"Bearer {tokens['admin']}"}


def test_admin_adds_a_user_who_can_then_log_in(client, tokens):
    created = client.post("/api/v1/users", json={"name": "kimura", "role": "analyst", "password": PASSWORD},
                          headers=_admin(tokens))
    assert created.status_code == 201 and created.json()["role"] == "analyst"
    duplicate = client.post("/api/v1/users", json={"name": "kimura", "role": "viewer", "password": PASSWORD},
                            headers=_admin(tokens))
    assert duplicate.status_code == 409
    me = client.get("/api/v1/me", headers={"Authorization": "Bearer " + client.post(
        "/api/v1/users/kimura/tokens", json={"label": "script"}, headers=_admin(tokens)).json()["token"]})
    assert me.json()["name"] == "kimura"


def test_admin_cannot_disable_themselves_but_can_disable_others(client, tokens):
    assert client.post("/api/v1/users/admin/disable", headers=_admin(tokens)).status_code == 409
    assert client.post("/api/v1/users/viewer/disable", headers=_admin(tokens)).json()["disabled"] is True
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['viewer']}"}).status_code == 401


def test_token_page_shows_the_new_token_once_and_never_in_a_url(app, tokens):
    client, csrf = logged_in(app, "admin")
    response = client.post("/users/analyst/token", data={"csrf_token": csrf, "label": "siem"})
    token = re.search(r'id="token">([^<]+)<', response.text).group(1)
    assert token.startswith("kkr_") and token not in str(response.url)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "analyst"
    assert token not in client.get("/users").text
