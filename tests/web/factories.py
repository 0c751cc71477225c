"""Builders for console tests: accounts, logged-in clients, and stored gateway messages."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import count

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from kakuri.store import accounts, mailflow
from kakuri.store.config import Stores
from tests.builders import make_message

PASSWORD = "correct horse battery staple"
ROLES = ("viewer", "analyst", "admin")
_ids = count(1)


@contextmanager
def quick_argon2():
    """argon2id still, at the lowest cost: the production cost (~0.5 s a hash on a busy CI core) would
    make every login in the suite that slow, and the cost parameter is not what these tests check."""
    saved = accounts._hasher
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        yield
    finally:
        accounts._hasher = saved


def add_users(stores: Stores) -> dict[str, str]:
    """One user per role (named after the role); returns role -> API token."""
    tokens = {}
    with stores.sessions.begin() as db:
        for role in ROLES:
            user = accounts.add_user(db, name=role, role=role, password=PASSWORD)
            tokens[role] = accounts.create_token(db, user, "tests")
    return tokens


def login_form_token(client: TestClient, next_: str = "/") -> str:
    page = client.get(f"/login?next={next_}")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def login(client: TestClient, name: str, password: str = PASSWORD):
    token = login_form_token(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token, "next": "/"},
                       follow_redirects=False)


def csrf_of(client: TestClient) -> str:
    page = client.get("/profile")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def logged_in(app, name: str) -> tuple[TestClient, str]:
    """A browser-like client with a session for `name`, and its CSRF token."""
    client = TestClient(app)
    assert login(client, name).status_code == 303
    return client, csrf_of(client)


def store_message(
    stores: Stores,
    *,
    raw: bytes | None = None,
    action: str = "quarantine",
    mail_from: str = "attacker@evil.example",
    rcpts: tuple[str, ...] = ("hanako@tokai-keiki.example",),
    direction: str = "inbound",
    symbols: tuple[str, ...] = ("ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE",),
    findings: list[dict] | None = None,
    subject: str = "請求書の送付",
    from_header: str = "Taro Yamada <attacker@evil.example>",
    received_at: datetime | None = None,
    score: float = 12.0,
    queue_id: str | None = None,
) -> str:
    """Record a message the way the gateway does (mailflow.record_accepted, blob stored); returns its queue id."""
    raw = raw or make_message(subject=subject, from_=from_header, to=rcpts[0])
    queue_id = queue_id or f"T{next(_ids):06d}"
    blob = stores.blobs.put(raw)
    findings = findings if findings is not None else [
        {"symbol": s, "detector": "test", "evidence": {"why": f"{s} seen"}} for s in symbols
    ]
    verdict = {"action": action, "score": score, "symbols": list(symbols), "findings": findings,
               "reasons": [f"score {score} >= quarantine 10"]}
    with stores.sessions() as db:
        mailflow.record_accepted(
            db, queue_id=queue_id, mail_from=mail_from, rcpt_directions={r: direction for r in rcpts},
            direction=direction, received_at=received_at or datetime.now(UTC), size=len(raw), verdict=verdict,
            headers={"subject": subject, "from": from_header, "to": rcpts[0], "message_id": f"{queue_id}@test"},
            client_ip="203.0.113.9", helo="evil.example", blob_sha256=blob,
        )
    return queue_id
