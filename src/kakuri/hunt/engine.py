"""The DuckDB connection of a hunt step (memory cap, spill folder, threads) and how results reach Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import duckdb

from kakuri.hunt.config import HuntConfig

if TYPE_CHECKING:
    from kakuri.hunt.store import HuntStore


def connect(cfg: HuntConfig, store: HuntStore) -> duckdb.DuckDBPyConnection:
    """DuckDB with a memory cap and a spill folder: large inputs spill to disk instead of growing memory."""
    con = duckdb.connect()
    spill = store.root / "tmp"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = '{cfg.engine_memory_mb}MB'")
    con.execute(f"SET temp_directory = '{spill}'")
    if cfg.engine_threads:
        con.execute(f"SET threads = {int(cfg.engine_threads)}")
    con.execute("SET preserve_insertion_order = false")
    return con


def stream(con: duckdb.DuckDBPyConnection, query: str, size: int = 4096) -> Iterator[tuple]:
    """A query's rows in batches: Python holds one batch of tuples at a time, never the whole result."""
    cursor = con.execute(query)
    while batch := cursor.fetchmany(size):
        yield from batch
