"""Scanning on several cores: a process pool whose workers each build their scanner once.

Scanning is CPU-bound pure Python (parsing, oletools, unpacking), so threads share one core under the
GIL; processes are the way to use the machine. Workers return only the verdict, as a dict: shipping
the parsed message back would cost more than the scan.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

from kakuri.model import Envelope

_scanner = None


def _init(home: str) -> None:
    global _scanner
    from kakuri.settings import load_settings
    from kakuri.wiring import build_scanner_from_home

    _scanner = build_scanner_from_home(load_settings(home))


def _scan(raw: bytes, envelope: Envelope) -> dict:
    return _scanner.scan(raw, envelope).verdict.as_dict()  # plain data pickles far faster than dataclasses


def _migrate(home: Path) -> None:
    from kakuri.settings import load_settings
    from kakuri.store.config import open_stores

    open_stores(load_settings(home)).close()


def _scan_many(batch: list[tuple[bytes, Envelope]]) -> list[dict]:
    return [_scan(raw, envelope) for raw, envelope in batch]


class ScanPool:
    def __init__(self, home: Path, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        _migrate(home)  # once, here: workers migrating a new database at the same time would collide
        self._pool = ProcessPoolExecutor(self.workers, initializer=_init, initargs=(str(home),))

    def map(self, items: Iterable[tuple[bytes, Envelope]], chunk: int = 8) -> Iterator[dict]:
        """Verdicts in input order; messages travel to the workers in chunks (one pickle and pipe round
        trip per chunk rather than per message)."""
        batch: list[tuple[bytes, Envelope]] = []
        pending: list[Future] = []
        for item in items:
            batch.append(item)
            if len(batch) >= chunk:
                pending.append(self._pool.submit(_scan_many, batch))
                batch = []
                if len(pending) >= 2 * self.workers:
                    yield from pending.pop(0).result()
        if batch:
            pending.append(self._pool.submit(_scan_many, batch))
        for future in pending:
            yield from future.result()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> ScanPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
