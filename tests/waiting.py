"""Waiting in tests for something another process or thread does: poll until true or fail with what was awaited."""

from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    """The predicate's first true value; AssertionError naming `message` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} not met within {timeout}s")
