from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from kakuri.settings import load_settings
from kakuri.store.config import open_stores
from kakuri.web.app import create_app
from tests.web.factories import add_users, quick_argon2


@pytest.fixture(autouse=True)
def cheap_hashing():
    with quick_argon2():
        yield


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
