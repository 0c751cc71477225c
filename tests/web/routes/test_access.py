"""Every route, every role: allowed where the role suffices, refused (401/login or 403) where it does not.

The table is the access policy in one place; `test_table_covers_every_route` fails when a route is
added without a line here.
"""

from __future__ import annotations

import itertools
import json

import pytest
from fastapi.testclient import TestClient

from kakuri.settings import load_settings
from kakuri.store import accounts
from kakuri.store.config import open_stores
from kakuri.web.app import create_app
from kakuri.web.routes import route_modules
from tests.web.factories import PASSWORD, add_users, logged_in, quick_argon2, store_message

RANK = {None: -1, "viewer": 0, "analyst": 1, "admin": 2}
_names = itertools.count()

# (method, path, least role, body kind)
API = [
    ("GET", "/api/v1/me", "viewer", None),
    ("PUT", "/api/v1/me/time-zone", "viewer", "tz"),
    ("GET", "/api/v1/dashboard", "viewer", None),
    ("GET", "/api/v1/quarantine", "viewer", None),
    ("GET", "/api/v1/messages/{queue_id}", "viewer", None),
    ("GET", "/api/v1/messages/{queue_id}/text", "analyst", None),
    ("GET", "/api/v1/messages/{queue_id}/raw", "analyst", None),
    ("POST", "/api/v1/quarantine/{queue_id}/release", "analyst", "reason"),
    ("POST", "/api/v1/quarantine/{queue_id}/delete", "analyst", "reason"),
    ("POST", "/api/v1/quarantine/bulk", "analyst", "bulk"),
    ("GET", "/api/v1/trace", "viewer", None),
    ("GET", "/api/v1/nodes", "viewer", None),
    ("GET", "/api/v1/audit", "analyst", None),
    ("GET", "/api/v1/users", "admin", None),
    ("POST", "/api/v1/users", "admin", "user"),
    ("POST", "/api/v1/users/{name}/tokens", "admin", "label"),
    ("POST", "/api/v1/users/{name}/disable", "admin", None),
    ("GET", "/api/v1/tokens", "admin", None),
    ("DELETE", "/api/v1/tokens/{token_id}", "admin", None),
    ("GET", "/api/v1/incidents", "viewer", None),
    ("POST", "/api/v1/incidents", "analyst", "incident"),
    ("GET", "/api/v1/incidents/{incident_id}", "viewer", None),
    ("POST", "/api/v1/incidents/{incident_id}/notes", "analyst", "note"),
    ("POST", "/api/v1/incidents/{incident_id}/links", "analyst", "link"),
    ("POST", "/api/v1/incidents/{incident_id}/hunt", "analyst", "hunt"),
    ("POST", "/api/v1/incidents/{incident_id}/isolate", "analyst", "isolate"),
    ("GET", "/api/v1/incidents/{incident_id}/warning", "analyst", None),
    ("POST", "/api/v1/incidents/{incident_id}/warn", "analyst", "warn"),
    ("POST", "/api/v1/incidents/{incident_id}/release", "analyst", "reason"),
    ("GET", "/api/v1/incidents/{incident_id}/report", "viewer", None),
    ("GET", "/api/v1/incidents/{incident_id}/delivered", "viewer", None),
    ("POST", "/api/v1/incidents/{incident_id}/clawback", "analyst", "reason"),
    ("GET", "/api/v1/emergency", "viewer", None),
    ("POST", "/api/v1/emergency/on", "analyst", "switch"),
    ("POST", "/api/v1/emergency/off", "admin", "switch"),
]
PAGES = [
    ("GET", "/", "viewer", None),
    ("GET", "/quarantine", "viewer", None),
    ("POST", "/quarantine/bulk", "analyst", "bulk"),
    ("GET", "/quarantine/{queue_id}", "viewer", None),
    ("POST", "/quarantine/{queue_id}/{operation}", "analyst", "reason"),
    ("GET", "/quarantine/{queue_id}/raw", "analyst", None),
    ("GET", "/trace", "viewer", None),
    ("GET", "/audit", "analyst", None),
    ("GET", "/users", "admin", None),
    ("POST", "/users", "admin", "user"),
    ("POST", "/users/{name}/token", "admin", "label"),
    ("GET", "/profile", "viewer", None),
    ("GET", "/docs", "viewer", None),
    ("POST", "/profile", "viewer", "tz"),
    ("POST", "/logout", "viewer", None),
    ("GET", "/incidents", "viewer", None),
    ("POST", "/incidents", "analyst", "incident"),
    ("GET", "/incidents/{incident_id}", "viewer", None),
    ("POST", "/incidents/{incident_id}/note", "analyst", "note"),
    ("POST", "/incidents/{incident_id}/link", "analyst", "link"),
    ("POST", "/incidents/{incident_id}/hunt", "analyst", "hunt"),
    ("POST", "/incidents/{incident_id}/isolate", "analyst", "isolate"),
    ("POST", "/incidents/{incident_id}/warn", "analyst", "warn"),
    ("POST", "/incidents/{incident_id}/release", "analyst", "reason"),
    ("POST", "/incidents/{incident_id}/close", "analyst", None),
    ("GET", "/incidents/{incident_id}/report", "viewer", None),
    ("POST", "/incidents/{incident_id}/clawback", "analyst", "reason"),
    ("GET", "/emergency", "viewer", None),
    ("POST", "/emergency/on", "analyst", "switch"),
    ("POST", "/emergency/off", "admin", "switch"),
]
PUBLIC = [("GET", "/login"), ("POST", "/login")]


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    with quick_argon2():
        settings = load_settings(tmp_path_factory.mktemp("access") / "kakuri-data")
        settings.__pydantic_extra__["respond"] = {  # the access test isolates only in dry runs
            "warning": {"from_address": "security@tokai-keiki.example"},
            "isolation": [{"name": "edr", "kind": "command", "argv": ["/bin/true", "{host}"]}],
        }
        stores = open_stores(settings)
        tokens = add_users(stores)
        with stores.sessions.begin() as db:
            accounts.add_user(db, name="spare", role="viewer", password=PASSWORD)
        app = create_app(settings, stores=stores)
        sessions = {role: logged_in(app, role) for role in ("viewer", "analyst", "admin")}
        yield app, stores, tokens, sessions
        stores.close()


def _request(console, method, template, kind, *, role, via):
    app, stores, tokens, sessions = console
    path = template.format(queue_id=store_message(stores), name="spare", operation="delete",
                           incident_id=_incident(stores) if "{incident_id}" in template else 0,
                           token_id=_token(stores) if "{token_id}" in template else 0)
    body = {
        None: None,
        "tz": {"time_zone": "UTC"},
        "reason": {"reason": "checked by the access test"},
        "bulk": {"operation": "delete", "queue_ids": [store_message(stores)], "reason": "access test"},
        "user": {"name": f"new{next(_names)}", "role": "viewer", "password": PASSWORD},
        "label": {"label": "ci"},
        "incident": {"title": "access test"},
        "note": {"text": "access test"},
        "link": {"kind": "host", "values": ["10.20.1.5"]},
        "hunt": [{"host": "10.20.1.5", "verdict": "infected", "notify": ["kondo@partner.example"]}],
        "isolate": {"host": "10.20.1.5", "reason": "access test", "dry_run": True},
        "warn": {},
        "switch": {"kind": "archives", "reason": "access test"},
    }[kind]
    headers = {}
    if role is None:
        client = TestClient(app)
    elif via == "token":
        client = TestClient(app)
        headers["Authorization"] = f"Bearer {tokens[role]}"
    elif path == "/logout":
        client, csrf = logged_in(app, role)  # a session of its own: this one ends
        headers["X-CSRF-Token"] = csrf
    else:
        client, csrf = sessions[role]
        headers["X-CSRF-Token"] = csrf
    if body is None:
        return client.request(method, path, headers=headers, follow_redirects=False)
    if path.startswith("/api/"):
        return client.request(method, path, json=body, headers=headers, follow_redirects=False)
    if kind == "hunt":
        return client.request(method, path, files={"file": ("hunt.json", json.dumps(body))}, headers=headers,
                              follow_redirects=False)
    if kind == "bulk":
        body = {"operation": "delete", "queue_id": body["queue_ids"], "reason": body["reason"]}
    return client.request(method, path, data=body, headers=headers, follow_redirects=False)


def _token(stores) -> int:
    with stores.sessions.begin() as db:
        accounts.create_token(db, accounts.get_user(db, "spare"), "to revoke")
        return accounts.list_tokens(db)[-1][0].id


def _incident(stores) -> int:
    from kakuri.respond.incidents import open_incident

    with stores.sessions() as db:
        incident = open_incident(db, title="access test", actor="test")
        db.commit()
        return incident.id


def _is_allowed(response) -> bool:
    if response.status_code in (401, 403):
        return False
    return not (response.status_code == 303 and response.headers["location"].startswith("/login?next="))


CASES = [
    (method, path, least, kind, role, via)
    for (method, path, least, kind), role, via in itertools.chain(
        itertools.product(API, [None, "viewer", "analyst", "admin"], ["token", "session"]),
        itertools.product(PAGES, [None, "viewer", "analyst", "admin"], ["session"]),
    )
    if not (role is None and via == "session" and (method, path, least, kind) in API)
]


@pytest.mark.parametrize(("method", "path", "least", "kind", "role", "via"), CASES,
                         ids=[f"{c[0]} {c[1]} as {c[4]} via {c[5]}" for c in CASES])
def test_route_allows_exactly_the_roles_it_names(console, method, path, least, kind, role, via):
    response = _request(console, method, path, kind, role=role, via=via)
    if RANK[role] >= RANK[least]:
        assert _is_allowed(response), response.text[:300]
        assert response.status_code < 400, response.text[:300]
    elif role is None:
        expected = 401 if path.startswith("/api/") else 303
        assert response.status_code == expected
    else:
        assert response.status_code == 403


def test_table_covers_every_route():
    routes = set()
    for module in route_modules():
        for prefix, router in (("/api/v1", getattr(module, "api", None)), ("", getattr(module, "pages", None))):
            routes |= {(m, prefix + r.path) for r in (router.routes if router else []) for m in r.methods}
    listed = {(m, p) for m, p, _, _ in API + PAGES} | set(PUBLIC)
    assert routes == listed
