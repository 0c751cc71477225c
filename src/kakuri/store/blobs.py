"""Raw messages, content-addressed (SHA-256), behind a small interface an S3-compatible store can implement.

`put` is idempotent (same bytes, same key) and durable when it returns: the file is written to a
temporary name, fsynced, renamed into place and the directory fsynced, so a crash never leaves a
half-written blob under a real key.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...  # returns the key (hex SHA-256)

    def get(self, key: str) -> bytes: ...  # raises KeyError when absent

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(target: Path, data: bytes, tmp_dir: Path) -> None:
    """Write `data` to `target` so that after return it survives a crash or power loss, whole or not at all."""
    tmp = tmp_dir / f"{target.name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    fsync_dir(target.parent)


class FileBlobStore:
    """Blobs in a folder, fanned out by the first two hex digits (`ab/abcdef...`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise KeyError(key)
        return self.root / key[:2] / key

    def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            self._write(path, data)
        return key

    def _write(self, path: Path, data: bytes) -> None:
        write_durably(path, data, self.tmp)

    def get(self, key: str) -> bytes:
        try:
            return self._read(self._path(key))
        except FileNotFoundError:
            raise KeyError(key) from None

    def _read(self, path: Path) -> bytes:
        return path.read_bytes()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def exists(self, key: str) -> bool:
        return self._path(key).exists()


class PgBlobStore:
    """Blobs in PostgreSQL (table `blob_store`), reachable from every gateway node and console.

    `put` returns after its own commit, so the copy is durable before the message row that points to it
    is written, exactly as with FileBlobStore's fsync. `fallback` (the blob folder) is read for copies
    stored before the database held them, e.g. by an earlier version on the same PostgreSQL.
    """

    def __init__(self, engine, *, fallback: BlobStore | None = None, table=None, cipher=None,
                 durable: bool = True) -> None:
        from kakuri.store.cluster_tables import StoredBlob

        self.engine = engine
        self.table = StoredBlob.__table__ if table is None else table
        self.fallback = fallback
        self.cipher = cipher  # e.g. Fernet: stored encrypted, keyed by the plain bytes' hash
        self.durable = durable  # False: the commit does not wait for the WAL flush (copies a crash may lose)

    def put(self, data: bytes) -> str:
        from sqlalchemy.dialects.postgresql import insert

        key = hashlib.sha256(data).hexdigest()
        stored = self.cipher.encrypt(data) if self.cipher is not None else data
        with self.engine.begin() as conn:
            if not self.durable:
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            conn.execute(insert(self.table).values(key=key, data=stored, size=len(data)).on_conflict_do_nothing())
        return key

    def get(self, key: str) -> bytes:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            data = conn.scalar(select(self.table.c.data).where(self.table.c.key == key))
        if data is None:
            if self.fallback is not None:
                return self.fallback.get(key)
            raise KeyError(key)
        return self.cipher.decrypt(bytes(data)) if self.cipher is not None else bytes(data)

    def delete(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.delete().where(self.table.c.key == key))
        if self.fallback is not None:
            self.fallback.delete(key)

    def exists(self, key: str) -> bool:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            found = conn.scalar(select(self.table.c.key).where(self.table.c.key == key)) is not None
        return found or (self.fallback is not None and self.fallback.exists(key))
