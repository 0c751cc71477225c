"""One parser per log format. Each turns lines into `kakuri.hunt.events` records and counts what it skips."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("kakuri.hunt")

SAMPLES_PER_FILE = 3


@dataclass
class ParseStats:
    """Lines read and skipped per file, with the first few malformed lines kept for one summary at the end.

    A broken export can hold millions of bad lines: one warning each would bury the result, so callers
    print `summary()` once instead.
    """

    lines: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # source -> (why, line)

    def skip(self, source: str, line: str, why: str) -> None:
        count = self.malformed.get(source, 0) + 1
        self.malformed[source] = count
        if count <= SAMPLES_PER_FILE:
            self.samples.setdefault(source, []).append((why, line.rstrip("\r\n")[:160]))

    def merge(self, other: ParseStats) -> None:
        self.lines += other.lines
        for source, count in other.malformed.items():
            self.malformed[source] = self.malformed.get(source, 0) + count
            kept = self.samples.setdefault(source, [])
            kept.extend(other.samples.get(source, [])[: SAMPLES_PER_FILE - len(kept)])

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    def summary(self) -> list[str]:
        """One line per file with skipped lines, then its first few samples."""
        out = []
        for source, count in sorted(self.malformed.items()):
            out.append(f"{source}: {count} malformed line(s) skipped")
            out.extend(f"  {why}: {line!r}" for why, line in self.samples.get(source, []))
        return out
