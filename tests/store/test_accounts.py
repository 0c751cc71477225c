"""Accounts: passwords, tokens, sessions and login throttling (store layer, real SQLite via migrations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kakuri.store import accounts
from kakuri.store.accounts import AccountError, LoginThrottle
from kakuri.store.config import open_stores
from tests.web.factories import quick_argon2


@pytest.fixture
def db(settings):
    stores = open_stores(settings)
    with quick_argon2(), stores.sessions() as session:
        yield session
    stores.close()


@pytest.mark.parametrize(("name", "password"), [("bob", "short"), ("a b", "x" * 12), ("", "x" * 12), ("n" * 65, "x" * 12)])
def test_short_passwords_and_bad_names_are_refused(db, name, password):
    with pytest.raises(AccountError):
        accounts.add_user(db, name=name, role="viewer", password=password)


def test_password_equal_to_the_name_is_refused(db):
    with pytest.raises(AccountError, match="user name"):
        accounts.add_user(db, name="administrator1", role="admin", password="Administrator1")


def test_unknown_role_is_refused(db):
    with pytest.raises(ValueError):
        accounts.add_user(db, name="eve", role="root", password="x" * 12)


def test_new_password_ends_every_session(db):
    user = accounts.add_user(db, name="bob", role="analyst", password="first password")
    session_id, _ = accounts.open_session(db, user, timedelta(hours=1))
    accounts.set_password(db, user, "second password")
    assert accounts.find_session(db, session_id) is None
    assert accounts.authenticate(db, "bob", "first password") is None
    assert accounts.authenticate(db, "bob", "second password") is user


def test_revoked_tokens_stop_working(db):
    user = accounts.add_user(db, name="ci", role="viewer", password="x" * 12)
    token = accounts.create_token(db, user, "pipeline")
    assert accounts.user_for_token(db, token) is user
    assert accounts.revoke_tokens(db, user) == 1
    assert accounts.user_for_token(db, token) is None


def test_each_lock_after_the_limit_is_twice_as_long(db):
    throttle = LoginThrottle(max_failures=3, lock=timedelta(minutes=1))
    keys = throttle.keys("alice", "192.0.2.1")
    for _ in range(3):
        throttle.record_failure(db, keys)
    first = throttle.locked_until(db, keys) - datetime.now(UTC)
    throttle.record_failure(db, keys)
    second = throttle.locked_until(db, keys) - datetime.now(UTC)
    assert timedelta(seconds=50) < first <= timedelta(minutes=1)
    assert timedelta(seconds=110) < second <= timedelta(minutes=2)


def test_one_address_spraying_many_names_is_locked(db):
    throttle = LoginThrottle(max_failures=3)
    for name in ("a", "b", "c"):
        throttle.record_failure(db, throttle.keys(name, "198.51.100.9"))
    assert throttle.locked_until(db, throttle.keys("d", "198.51.100.9")) is not None
    assert throttle.locked_until(db, throttle.keys("d", "198.51.100.10")) is None


def test_old_failures_outside_the_window_are_forgotten(db):
    throttle = LoginThrottle(max_failures=3, window=timedelta(minutes=15))
    keys = throttle.keys("carol", "192.0.2.7")
    for _ in range(2):
        throttle.record_failure(db, keys)
    for row in db.query(accounts.LoginFailure):
        row.window_start = datetime.now(UTC) - timedelta(hours=1)
    throttle.record_failure(db, keys)
    assert throttle.locked_until(db, keys) is None
