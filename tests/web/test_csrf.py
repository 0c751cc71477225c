"""Every state-changing request made with the session cookie needs the session's CSRF token."""

from __future__ import annotations

import pytest

from kakuri.store.messages import Message
from tests.web.factories import logged_in, store_message


@pytest.fixture
def analyst(app, tokens):
    return logged_in(app, "analyst")


def _state(stores, queue_id):
    with stores.sessions() as db:
        return db.get(Message, queue_id).state


def test_form_post_without_token_is_refused_and_changes_nothing(analyst, stores):
    client, _csrf = analyst
    qid = store_message(stores)
    response = client.post(f"/quarantine/{qid}/release", data={"reason": "false positive"})
    assert response.status_code == 403
    assert _state(stores, qid) == "quarantined"


def test_form_post_with_wrong_token_is_refused(analyst, stores):
    client, _csrf = analyst
    qid = store_message(stores)
    response = client.post(f"/quarantine/{qid}/delete", data={"reason": "spam", "csrf_token": "x" * 43})
    assert response.status_code == 403
    assert _state(stores, qid) == "quarantined"


def test_form_post_with_the_session_token_is_accepted(analyst, stores):
    client, csrf = analyst
    qid = store_message(stores)
    response = client.post(f"/quarantine/{qid}/delete", data={"reason": "spam", "csrf_token": csrf},
                           follow_redirects=False)
    assert response.status_code == 303
    assert _state(stores, qid) == "deleted"


def test_json_api_with_cookie_needs_the_header_token(analyst, stores):
    client, csrf = analyst
    qid = store_message(stores)
    url = f"/api/v1/quarantine/{qid}/delete"
    assert client.post(url, json={"reason": "spam"}).status_code == 403
    assert client.post(url, json={"reason": "spam"}, headers={"X-CSRF-Token": csrf}).json()["ok"] is True


def test_token_of_another_session_is_refused(app, analyst, stores):
    client, _ = analyst
    _other, other_csrf = logged_in(app, "admin")
    qid = store_message(stores)
    response = client.post(f"/api/v1/quarantine/{qid}/delete", json={"reason": "spam"},
                           headers={"X-CSRF-Token": other_csrf})
    assert response.status_code == 403


def test_cross_origin_post_is_refused_even_with_token(analyst, stores):
    client, csrf = analyst
    qid = store_message(stores)
    response = client.post(f"/quarantine/{qid}/delete", data={"reason": "spam", "csrf_token": csrf},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert _state(stores, qid) == "quarantined"


def test_bearer_token_requests_need_no_csrf_token(client, tokens, stores):
    qid = store_message(stores)
    response = client.post(f"/api/v1/quarantine/{qid}/delete", json={"reason": "spam"},
                           headers={"Authorization": f"Bearer {tokens['analyst']}"})
    assert response.json()["ok"] is True


def test_logout_needs_the_token_too(analyst):
    client, _ = analyst
    assert client.post("/logout").status_code == 403
    assert client.get("/api/v1/me").status_code == 200
