"""Blobs in PostgreSQL: kept copies (quarantine, held) and retained copies (retro-scan), for every node."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from kakuri.store.blobs import FileBlobStore, PgBlobStore
from kakuri.store.config import open_stores
from kakuri.store.retention import Retention
from tests.store.conftest import postgres_server, postgres_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(settings, postgres_url):  # noqa: F811
    settings.__pydantic_extra__["store"] = {"url": postgres_url}
    return settings


def test_kept_copies_are_in_the_database_and_old_files_are_still_read(pg_settings, tmp_path):
    old = FileBlobStore(pg_settings.home / "blobs")  # what an earlier version wrote beside the data
    earlier = old.put(b"kept before the upgrade")
    stores = open_stores(pg_settings)
    try:
        assert isinstance(stores.blobs, PgBlobStore)
        key = stores.blobs.put(b"quarantined mail")
        assert stores.blobs.put(b"quarantined mail") == key  # idempotent
        with stores.engine.connect() as conn:
            assert bytes(conn.scalar(text("SELECT data FROM blob_store WHERE key = :k"), {"k": key})) == b"quarantined mail"
        assert stores.blobs.get(key) == b"quarantined mail" and stores.blobs.exists(key)
        assert stores.blobs.get(earlier) == b"kept before the upgrade"
        stores.blobs.delete(key)
        assert not stores.blobs.exists(key)
        with pytest.raises(KeyError):
            stores.blobs.get(key)
    finally:
        stores.close()


def test_retained_copies_are_in_the_database_encrypted_when_configured(pg_settings):
    from cryptography.fernet import Fernet

    (pg_settings.home).mkdir(parents=True, exist_ok=True)
    (pg_settings.home / "retention.key").write_bytes(Fernet.generate_key())
    pg_settings.__pydantic_extra__["retention"] = {"enabled": True, "encryption_key_file": "retention.key"}
    stores = open_stores(pg_settings)
    try:
        retention = Retention.from_settings(pg_settings, engine=stores.engine)
        key = retention.keep(b"Subject: delivered\r\n\r\nsecret body\r\n")
        with stores.engine.connect() as conn:
            stored = bytes(conn.scalar(text("SELECT data FROM retained_blob_store WHERE key = :k"), {"k": key}))
        assert b"secret body" not in stored
        other_node = Retention.of(pg_settings)  # e.g. a retro-scan worker: engine from [store] url
        assert other_node.blobs.get(key) == b"Subject: delivered\r\n\r\nsecret body\r\n"
        assert not (pg_settings.home / "retained").exists()
    finally:
        stores.close()
