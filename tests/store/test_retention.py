"""Retention of delivered mail: expiry by age and by size cap, encryption at rest, switched off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from kakuri.store.config import open_stores
from kakuri.store.retention import RetainedMessage, Retention, RetentionConfig


@pytest.fixture
def stores(settings):
    stores = open_stores(settings)
    yield stores
    stores.close()


def _keep(stores, retention, raw: bytes, queue_id: str, at: datetime) -> str:
    key = retention.keep(raw)
    with stores.sessions() as session:
        retention.record(session, queue_id=queue_id, key=key, size=len(raw), at=at)
        retention.record(session, queue_id=queue_id, key=key, size=len(raw), at=at)  # a replayed spool entry
        session.commit()
    return key


def test_expiry_drops_old_copies_and_then_the_oldest_over_the_size_cap(settings, stores):
    retention = Retention(RetentionConfig(days=14, max_total_bytes=2500), settings.home)
    now = datetime.now(UTC)
    old = _keep(stores, retention, b"a" * 1000, "old", now - timedelta(days=15))
    mid = _keep(stores, retention, b"b" * 1000, "mid", now - timedelta(days=3))
    new = _keep(stores, retention, b"c" * 1000, "new", now - timedelta(days=1))
    newest = _keep(stores, retention, b"d" * 1000, "newest", now)
    with stores.sessions() as session:
        count, freed = retention.expire(session)
        left = set(session.scalars(select(RetainedMessage.queue_id)))
    assert (count, freed) == (2, 2000)  # "old" by age, then "mid" to get under 2,500 bytes
    assert left == {"new", "newest"}
    assert not retention.blobs.exists(old) and not retention.blobs.exists(mid)
    assert retention.blobs.get(new) == b"c" * 1000 and retention.blobs.exists(newest)


def test_a_blob_shared_by_two_messages_outlives_the_first_expiry(settings, stores):
    retention = Retention(RetentionConfig(days=14), settings.home)
    now = datetime.now(UTC)
    key = _keep(stores, retention, b"same bytes", "first", now - timedelta(days=20))
    _keep(stores, retention, b"same bytes", "second", now)
    with stores.sessions() as session:
        assert retention.expire(session)[0] == 1
    assert retention.blobs.get(key) == b"same bytes"


def test_encrypted_at_rest_and_readable_with_the_key(settings):
    (settings.home / "k").parent.mkdir(parents=True, exist_ok=True)
    (settings.home / "k").write_bytes(Fernet.generate_key())
    retention = Retention(RetentionConfig(encryption_key_file="k"), settings.home)
    key = retention.keep(b"Subject: secret\r\n\r\nbody\r\n")
    on_disk = (settings.home / "retained" / key[:2] / key).read_bytes()
    assert b"secret" not in on_disk
    assert retention.blobs.get(key) == b"Subject: secret\r\n\r\nbody\r\n"


def test_a_bad_key_file_says_how_to_make_one(settings):
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "k").write_text("not a key")
    with pytest.raises(ValueError, match="kakuri retention keygen"):
        Retention(RetentionConfig(encryption_key_file="k"), settings.home)


def test_switched_off_and_direction_and_size_limits(settings):
    settings.__pydantic_extra__["retention"] = {"enabled": False}
    assert Retention.from_settings(settings) is None
    settings.__pydantic_extra__["retention"] = {"max_message_bytes": 10}
    retention = Retention.from_settings(settings)
    assert retention.wants(direction="inbound", size=10)
    assert not retention.wants(direction="inbound", size=11)
    assert not retention.wants(direction="outbound", size=1)  # mail that left us is in nobody's mailbox here
