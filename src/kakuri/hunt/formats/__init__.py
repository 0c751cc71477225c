"""One parser per log format. Each turns lines into `kakuri.hunt.events` records and counts what it skips."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("kakuri.hunt")

MAX_WARNINGS_PER_FILE = 5


@dataclass
class ParseStats:
    """Lines read and skipped per file; the first few malformed lines are logged as warnings."""

    lines: int = 0
    malformed: dict[str, int] = field(default_factory=dict)

    def skip(self, source: str, line: str, why: str) -> None:
        count = self.malformed.get(source, 0) + 1
        self.malformed[source] = count
        if count <= MAX_WARNINGS_PER_FILE:
            log.warning("%s: skipped malformed line (%s): %.120r", source, why, line)

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())
