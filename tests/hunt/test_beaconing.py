from __future__ import annotations

import random

from kakuri.hunt.beaconing import beacon_stats, is_beacon

RULE = dict(min_events=6, min_interval=30, max_jitter=0.3)


def test_jittered_beacon_with_night_pauses_and_retries_is_regular():
    rng = random.Random(3)
    times, ts = [], 0.0
    for i in range(60):
        times.append(ts)
        if i % 10 == 3:
            times.append(ts + 12)  # a failover retry seconds later
        ts += 900 + rng.uniform(-120, 120) + (40_000 if i == 30 else 0)  # one night off
    stats = beacon_stats(times)
    assert is_beacon(stats, **RULE)
    assert 800 < stats.period_seconds < 1000


def test_human_browsing_is_not_a_beacon():
    rng = random.Random(5)
    times, ts = [], 0.0
    for _ in range(60):
        ts += rng.expovariate(1 / 1200)
        times.append(ts)
    assert not is_beacon(beacon_stats(times), **RULE)


def test_too_few_contacts_are_never_a_beacon():
    assert not is_beacon(beacon_stats([0, 900, 1800, 2700]), **RULE)
