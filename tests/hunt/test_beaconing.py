"""Beacon scoring: jitter, pauses, retries and data sizes; browsing and a steady downloader are not beacons."""

from __future__ import annotations

import random

from kakuri.hunt.beaconing import beacon_stats, is_beacon

RULE = dict(min_events=6, min_interval=30, max_jitter=0.3, min_score=0.5)


def _beacon(seed: int = 3, beats: int = 60, period: float = 900, jitter: float = 120):
    rng = random.Random(seed)
    times, sizes, ts = [], [], 0.0
    for i in range(beats):
        times.append(ts)
        sizes.append(rng.randint(380, 420))
        if i % 10 == 3:
            times.append(ts + 4)  # a failover retry seconds later: the same burst
            sizes.append(0)
        ts += period + rng.uniform(-jitter, jitter) + (40_000 if i == 30 else 0)  # one night off
    return times, sizes


def test_jittered_beacon_with_night_pauses_and_retries_is_regular():
    times, sizes = _beacon()
    stats = beacon_stats(times, sizes)
    assert is_beacon(stats, **RULE)
    assert 800 < stats.period_seconds < 1000 and stats.events == 60
    assert abs(stats.skew) < 0.5 and stats.score > 0.7


def test_irregular_sizes_lower_the_score_but_timing_dominates():
    times, _ = _beacon()
    steady = beacon_stats(times, [400] * len(times))
    random_sizes = beacon_stats(times, [random.Random(i).randint(100, 90_000) for i in range(len(times))])
    assert steady.score > random_sizes.score
    assert is_beacon(random_sizes, **RULE)


def test_a_beacon_active_for_a_short_part_of_the_window_scores_lower():
    times, sizes = _beacon(beats=20)
    whole = beacon_stats(times, sizes)
    brief = beacon_stats(times, sizes, window_seconds=30 * 86400)
    assert brief.persistence < 0.1 < whole.persistence and brief.score < whole.score


def test_human_browsing_is_not_a_beacon():
    rng = random.Random(5)
    times, ts = [], 0.0
    for _ in range(60):
        ts += rng.expovariate(1 / 1200)
        times.append(ts)
    assert not is_beacon(beacon_stats(times, [rng.randint(500, 50_000) for _ in times]), **RULE)


def test_too_few_contacts_are_never_a_beacon():
    assert not is_beacon(beacon_stats([0, 900, 1800, 2700]), **RULE)
