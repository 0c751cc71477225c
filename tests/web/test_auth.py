"""Login, sessions, cookies, throttling and API tokens, over real HTTP handling (TestClient)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from kakuri.store import accounts
from tests.web.factories import PASSWORD, csrf_of, login, login_form_token


def test_pages_redirect_anonymous_visitors_to_login(client, tokens):
    response = client.get("/quarantine?sender=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fquarantine%3Fsender%3Dx"


def test_api_refuses_anonymous_callers_with_401(client, tokens):
    response = client.get("/api/v1/quarantine")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_login_sets_an_httponly_samesite_session_cookie(client, tokens):
    response = login(client, "analyst")
    assert response.status_code == 303
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "kakuri_session=" in v)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert client.get("/api/v1/me").json()["name"] == "analyst"


def test_session_cookie_is_secure_behind_tls(app, tokens):
    client = TestClient(app, base_url="https://console.example")
    response = login(client, "viewer")
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "kakuri_session=" in v)
    assert "Secure" in cookie


def test_wrong_password_does_not_log_in(client, tokens):
    response = login(client, "analyst", "not the password")
    assert response.status_code == 401
    assert "kakuri_session" not in client.cookies
    assert client.get("/api/v1/me").status_code == 401


def test_login_without_the_form_token_is_refused(client, tokens):
    login_form_token(client)
    response = client.post("/login", data={"name": "analyst", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403
    assert "kakuri_session" not in client.cookies


def test_repeated_failures_lock_the_account_even_with_the_right_password(client, tokens):
    for _ in range(5):
        assert login(client, "admin", "guess-guess-guess").status_code == 401
    locked = login(client, "admin", PASSWORD)
    assert locked.status_code == 429
    assert "kakuri_session" not in client.cookies


def test_lock_expires_and_success_clears_the_name_counter(app, client, tokens):
    for _ in range(5):
        login(client, "viewer", "guess-guess-guess")
    with app.state.sessions.begin() as db:  # time passes: move the locks into the past
        for row in db.query(accounts.LoginFailure):
            row.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    assert login(client, "viewer").status_code == 303
    with app.state.sessions() as db:
        assert db.get(accounts.LoginFailure, "user:viewer") is None


def test_unknown_user_fails_like_a_wrong_password(client, tokens):
    assert login(client, "nobody", PASSWORD).status_code == 401


def test_logout_ends_the_session_on_the_server(client, tokens):
    login(client, "viewer")
    stolen = client.cookies.get("kakuri_session")
    csrf = csrf_of(client)
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    replay = TestClient(client.app, cookies={"kakuri_session": stolen})
    assert replay.get("/api/v1/me").status_code == 401


def test_expired_session_is_refused(app, client, tokens):
    login(client, "viewer")
    with app.state.sessions.begin() as db:
        for row in db.query(accounts.WebSession):
            row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    assert client.get("/api/v1/me").status_code == 401


def test_login_redirect_never_leaves_the_site(client, tokens):
    token = login_form_token(client)
    response = client.post("/login", data={"name": "viewer", "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/x"}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_api_token_authenticates_and_a_bad_token_does_not(client, tokens):
    ok = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert ok.json() == {"name": "admin", "role": "admin", "time_zone": "Asia/Tokyo", "via": "token"}
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer kkr_not-a-real-token"})
    assert bad.status_code == 401


def test_a_bad_token_is_not_rescued_by_a_session_cookie(client, tokens):
    login(client, "admin")
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


def test_disabled_user_loses_sessions_and_tokens(app, client, tokens):
    login(client, "analyst")
    with app.state.sessions.begin() as db:
        accounts.get_user(db, "analyst").disabled = True
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['analyst']}"}).status_code == 401


def test_passwords_and_tokens_are_not_stored_in_clear(app, tokens):
    with app.state.sessions() as db:
        user = accounts.get_user(db, "admin")
        assert user.password_hash.startswith("$argon2id$")
        stored = [t.token_sha256 for t in db.query(accounts.ApiToken)]
    assert tokens["admin"] not in stored and len(stored) == 3


def test_every_response_carries_a_strict_content_security_policy(client, tokens):
    for path in ("/login", "/api/v1/openapi.json", "/static/console.css"):
        headers = client.get(path).headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
    assert client.get("/login").headers["cache-control"] == "no-store"


def test_viewer_chooses_their_time_zone(client, tokens):
    login(client, "viewer")
    csrf = csrf_of(client)
    client.post("/profile", data={"csrf_token": csrf, "time_zone": "UTC"})
    assert client.get("/api/v1/me").json()["time_zone"] == "UTC"
    bad = client.put("/api/v1/me/time-zone", json={"time_zone": "Mars/Olympus"}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 422


def test_a_planted_session_cookie_is_never_adopted(client, tokens):
    client.cookies.set("kakuri_session", "chosen-by-the-attacker")
    response = login(client, "viewer")
    issued = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "kakuri_session=" in v)
    assert "chosen-by-the-attacker" not in issued
    planted = TestClient(client.app, cookies={"kakuri_session": "chosen-by-the-attacker"})
    assert planted.get("/api/v1/me").status_code == 401
