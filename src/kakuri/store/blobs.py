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
