"""Beacon test: are a host's contacts to one destination regular, allowing for jitter and pauses?

Robust statistics on inter-arrival gaps: the median gap is the period and the median absolute
deviation (MAD) relative to it is the jitter, so nights, reboots and a few retries (outliers) do not
hide a beacon. Contacts closer than `burst_seconds` to the start of a burst count once (retries,
failover to the next C2). Blind spot: beacons with randomised periods (jitter > max_jitter) or fewer
than `min_events` contacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Iterable

BURST_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class BeaconStats:
    events: int
    period_seconds: float
    jitter: float  # MAD / median gap

    def as_evidence(self) -> dict[str, str]:
        return {"events": str(self.events), "period_s": f"{self.period_seconds:.0f}", "jitter": f"{self.jitter:.2f}"}


def beacon_stats(timestamps: Iterable[float], burst_seconds: float = BURST_SECONDS) -> BeaconStats | None:
    starts: list[float] = []
    for ts in sorted(timestamps):
        if not starts or ts - starts[-1] >= burst_seconds:
            starts.append(ts)
    if len(starts) < 3:
        return None
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    period = median(gaps)
    if period <= 0:
        return None
    mad = median(abs(g - period) for g in gaps)
    return BeaconStats(events=len(starts), period_seconds=period, jitter=mad / period)


def is_beacon(stats: BeaconStats | None, *, min_events: int, min_interval: float, max_jitter: float) -> bool:
    return (
        stats is not None
        and stats.events >= min_events
        and stats.period_seconds >= min_interval
        and stats.jitter <= max_jitter
    )
