"""`[store]`: where the database and the raw-message blobs live, and how to open them."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from kakuri.settings import make_private_dir
from kakuri.store.blobs import BlobStore, FileBlobStore, PgBlobStore
from kakuri.store.db import make_engine, make_sessionmaker, migrate, sqlite_url


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = ""  # "" = SQLite file kakuri.db in the data folder; or postgresql+psycopg://user@host/db
    blobs_dir: str = "blobs"  # relative to the data folder

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if value and scheme not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg", "postgresql"):
            raise ValueError(
                f"url scheme {scheme!r} is not supported: use postgresql+psycopg://user:password@host/db "
                "(or leave url empty for the SQLite file in the data folder)"
            )
        return value.replace("postgresql://", "postgresql+psycopg://", 1)  # psycopg 3 is the driver installed


class StoreError(Exception):
    """The database cannot be opened; the message says which one (password hidden) and what to check."""


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
    try:
        if upgrade:
            migrate(engine)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        engine.dispose()
        where = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
        raise StoreError(
            f"database {where} cannot be opened: {reason}. Check [store] url in kakuri.toml, that the server runs "
            "and accepts this role and password, and that the database exists"
        ) from exc
    if new_sqlite and database.exists():
        database.chmod(0o600)  # mail and account hashes; SQLite gives its -wal and -shm files the same mode
    return Stores(engine=engine, sessions=make_sessionmaker(engine), blobs=blob_store(engine, home / config.blobs_dir))


def blob_store(engine: Engine, folder: Path) -> BlobStore:
    """PostgreSQL keeps the blobs itself, so that every node and console reaches them (scale-out mode);
    the embedded SQLite mode keeps them in files beside the database."""
    if engine.dialect.name == "postgresql":
        return PgBlobStore(engine, fallback=FileBlobStore(folder) if folder.exists() else None)
    return FileBlobStore(folder)
