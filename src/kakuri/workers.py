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


class ScanPool:
    def __init__(self, home: Path, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(self.workers, initializer=_init, initargs=(str(home),))

    def submit(self, raw: bytes, envelope: Envelope) -> Future:
        return self._pool.submit(_scan, raw, envelope)

    def map(self, items: Iterable[tuple[bytes, Envelope]], window: int = 64) -> Iterator[dict]:
        """Verdicts in input order, keeping at most `window` scans in flight."""
        pending: list[Future] = []
        for raw, envelope in items:
            pending.append(self.submit(raw, envelope))
            if len(pending) >= window:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> ScanPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
