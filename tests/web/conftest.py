from __future__ import annotations

import shutil

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from kakuri.settings import load_settings
from kakuri.store import accounts
from kakuri.store.config import open_stores
from kakuri.web.app import create_app
from tests.web.factories import add_users


@pytest.fixture(autouse=True)
def quick_argon2(monkeypatch):
    """argon2id still, at the lowest cost: the production cost (~0.5 s a hash on a busy CI core) would
    make every login in the suite that slow, and the cost parameter is not what these tests check."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """A database migrated once; each test starts from a copy (migrating costs ~1.5 s with fsync)."""
    home = tmp_path_factory.mktemp("template") / "kakuri-data"
    stores = open_stores(load_settings(home))
    stores.close()
    return home / "kakuri.db"


@pytest.fixture
def stores(settings, migrated_db):
    settings.home.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_db, settings.home / "kakuri.db")
    stores = open_stores(settings)
    yield stores
    stores.close()


@pytest.fixture
def app(settings, stores):
    return create_app(settings, stores=stores)


@pytest.fixture
def tokens(stores) -> dict[str, str]:
    return add_users(stores)


@pytest.fixture
def client(app) -> TestClient:
    return TestClient(app)
