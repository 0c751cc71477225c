"""`[store]`: where the database and the raw-message blobs live, and how to open them."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from kakuri.settings import make_private_dir
from kakuri.store.blobs import BlobStore, FileBlobStore
from kakuri.store.db import make_engine, make_sessionmaker, migrate, sqlite_url


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = ""  # "" = SQLite file kakuri.db in the data folder; or postgresql+psycopg://user@host/db
    blobs_dir: str = "blobs"  # relative to the data folder


@dataclass
class Stores:
    """What the gateway, the CLI and the console share: the database and the blob store."""

    engine: Engine
    sessions: sessionmaker
    blobs: BlobStore
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    def writing(self):
        """Hold while writing from many threads of one process. SQLite has one writer at a time and makes
        the others sleep in coarse steps (its busy handler); queueing on a Python lock hands the database
        over at once. PostgreSQL takes concurrent writers itself, so there is nothing to hold."""
        return self._write_lock if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()

    def close(self) -> None:
        self.engine.dispose()


def open_stores(settings, *, url: str | None = None, upgrade: bool = True) -> Stores:
    """Open (and by default migrate) the database and blob store configured in `settings`."""
    config = StoreConfig.model_validate(settings.section("store"))
    home = make_private_dir(Path(settings.home))
    database = home / "kakuri.db"
    new_sqlite = not (url or config.url) and not database.exists()
    engine = make_engine(url or config.url or sqlite_url(home))
    if upgrade:
        migrate(engine)
    if new_sqlite and database.exists():
        database.chmod(0o600)  # mail and account hashes; SQLite gives its -wal and -shm files the same mode
    return Stores(engine=engine, sessions=make_sessionmaker(engine), blobs=FileBlobStore(home / config.blobs_dir))
