"""The maillog's clock offset, measured against the edge sensor when the operator did not configure one.

Syslog stamps carry no zone: a mail server logging in JST reads nine hours off. The same SMTP session
appears in conn.log (epoch, UTC) and in the maillog (`client=name[ip]`), so the median difference
between sessions from the same outside address peaks at the offset (other pairings of the same
address spread out), rounded to a quarter hour. It is applied only when enough sessions agree.
"""

from __future__ import annotations

from collections import Counter

QUARTER_HOUR = 900.0
MAX_MATCH_SECONDS = 14 * 3600 + QUARTER_HOUR  # zones span -12..+14 h
MIN_SAMPLES = 5
MIN_AGREEING_SHARE = 0.3


def estimate_offset(mail_samples: list[tuple[str, float]], sensor_times: dict[str, list[float]]) -> float | None:
    """Seconds to subtract from maillog stamps to get UTC, or None when no confident estimate exists."""
    votes: Counter[int] = Counter()
    for ip, ts in mail_samples:
        minutes = {round((ts - t) / 60) for t in sensor_times.get(ip, ()) if abs(ts - t) <= MAX_MATCH_SECONDS}
        votes.update(minutes)
    if not votes:
        return None
    minute, count = votes.most_common(1)[0]
    agreeing = sum(votes[m] for m in range(minute - 2, minute + 3))
    if agreeing < max(MIN_SAMPLES, MIN_AGREEING_SHARE * len(mail_samples)):
        return None
    offset = round(minute * 60 / QUARTER_HOUR) * QUARTER_HOUR
    return offset or None
