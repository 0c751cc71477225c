"""Content-addressed blobs: same bytes, same key; no partial files under real keys."""

import hashlib

import pytest

from kakuri.store.blobs import FileBlobStore


def test_put_is_idempotent_and_keyed_by_sha256(tmp_path):
    blobs = FileBlobStore(tmp_path / "blobs")
    key = blobs.put(b"raw message")
    assert key == hashlib.sha256(b"raw message").hexdigest()
    assert blobs.put(b"raw message") == key
    assert blobs.get(key) == b"raw message"
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_missing_and_malformed_keys_raise_keyerror(tmp_path):
    blobs = FileBlobStore(tmp_path / "blobs")
    with pytest.raises(KeyError):
        blobs.get("0" * 64)
    with pytest.raises(KeyError):
        blobs.get("../../etc/passwd")
    blobs.delete("0" * 64)  # deleting what is not there is fine
