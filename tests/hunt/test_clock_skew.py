from __future__ import annotations

from kakuri.hunt.clock_skew import estimate_offset

SENSOR = {f"192.0.2.{i}": [1000.0 + i * 5000, 90_000.0 + i * 3000] for i in range(10)}


def test_maillog_written_in_japan_time_is_nine_hours_ahead():
    samples = [(ip, times[0] + 9 * 3600 + 1.5) for ip, times in SENSOR.items()]
    assert estimate_offset(samples, SENSOR) == 9 * 3600


def test_clocks_in_step_or_too_little_evidence_give_no_correction():
    assert estimate_offset([(ip, t[0] + 2) for ip, t in SENSOR.items()], SENSOR) is None
    assert estimate_offset([("192.0.2.1", 6000.0 + 9 * 3600)], SENSOR) is None
