"""Beacon scoring, in the manner of RITA: how machine-like are a host's contacts with one destination?

Threat: implants calling their C2 on a timer (Emotet, TrickBot, Cobalt Strike), with jitter, pauses
and several C2 addresses in rotation.
Technique: contacts closer than a few seconds are one burst (retries, failover to the next C2). Over
the gaps between bursts, as RITA does: Bowley skew (a timer is symmetric) and the median absolute
deviation about the median gap, relative to it (jitter; robust to nights, reboots and sleep, which are
outliers). Over the bytes per burst: the same two measures (a check-in has a steady size). Then how
much of its active span the beacon fills (count against what the period predicts) and how much of the
observed window it persists (duration). One score 0..1 per host-destination pair, and per host over
its rare IP-literal destinations together (a C2 list in rotation), with the parts as evidence.
Blind spots: periods randomised beyond `beacon_max_jitter`; fewer than `beacon_min_events` bursts;
C2 reached by name through a destination many hosts use.
"""

from __future__ import annotations

from dataclasses import dataclass

from kakuri.hunt.daily import BURST_GAP_SECONDS

JITTER_SCALE = 0.5  # relative MAD at which interval regularity scores 0
SIZE_SCALE = 1.0  # relative MAD of bytes per burst at which size regularity scores 0
WEIGHTS = {"interval": 0.45, "size": 0.2, "count": 0.2, "duration": 0.15}

# rows(grp, ts, bytes) -> one row per group. Portable SQL apart from quantile_cont (see README).
STATS_SQL = f"""
WITH marked AS (
  SELECT grp, ts, bytes, CASE WHEN ts - lag(ts) OVER w < {BURST_GAP_SECONDS} THEN 0 ELSE 1 END AS opens
  FROM ({{rows}}) r WINDOW w AS (PARTITION BY grp ORDER BY ts)),
numbered AS (SELECT *, sum(opens) OVER (PARTITION BY grp ORDER BY ts ROWS UNBOUNDED PRECEDING) AS burst FROM marked),
bursts AS (SELECT grp, min(ts) AS start, sum(bytes) AS bytes FROM numbered GROUP BY grp, burst),
gaps AS (SELECT grp, start, bytes, start - lag(start) OVER (PARTITION BY grp ORDER BY start) AS gap FROM bursts),
q AS (SELECT grp, count(*) AS events, min(start) AS first, max(start) AS last,
             quantile_cont(gap, [0.25, 0.5, 0.75]) AS gq, quantile_cont(bytes, [0.25, 0.5, 0.75]) AS bq
      FROM gaps GROUP BY grp HAVING count(*) >= {{min_events}})
SELECT q.grp, any_value(q.events), any_value(q.first), any_value(q.last), any_value(q.gq), any_value(q.bq),
       median(abs(g.gap - q.gq[2])), median(abs(g.bytes - q.bq[2]))
FROM q JOIN gaps g ON g.grp = q.grp GROUP BY q.grp
"""


@dataclass(frozen=True, slots=True)
class BeaconStats:
    events: int
    period_seconds: float
    jitter: float  # MAD of the gaps / median gap
    skew: float  # Bowley skew of the gaps
    size_median: float
    size_jitter: float
    size_skew: float
    coverage: float  # bursts seen / bursts the period predicts over the active span
    persistence: float  # active span / observed window
    score: float

    def as_evidence(self) -> dict[str, str]:
        return {"events": str(self.events), "period_s": f"{self.period_seconds:.0f}", "jitter": f"{self.jitter:.2f}",
                "skew": f"{self.skew:.2f}", "bytes": f"{self.size_median:.0f}", "size_jitter": f"{self.size_jitter:.2f}",
                "coverage": f"{self.coverage:.2f}", "persistence": f"{self.persistence:.2f}",
                "beacon_score": f"{self.score:.2f}"}


def _bowley(q: list[float]) -> float:
    spread = q[2] - q[0]
    return (q[0] + q[2] - 2 * q[1]) / spread if spread > 0 else 0.0


def score_row(row: tuple, window_seconds: float) -> tuple[str, BeaconStats | None]:
    """One STATS_SQL row -> (group, stats); None when the median gap is zero (no period at all)."""
    grp, events, first, last, gq, bq, gap_madm, bytes_madm = row
    period = gq[1]
    if not period or period <= 0:
        return grp, None
    jitter = gap_madm / period
    skew = _bowley(gq)
    size_median = max(bq[1], 1.0)
    size_jitter = bytes_madm / size_median
    size_skew = _bowley(bq)
    span = max(last - first, period)
    coverage = min(1.0, events * period / span)
    persistence = min(1.0, span / window_seconds) if window_seconds > 0 else 1.0
    parts = {
        "interval": ((1 - min(1.0, abs(skew))) + max(0.0, 1 - jitter / JITTER_SCALE)) / 2,
        "size": ((1 - min(1.0, abs(size_skew))) + max(0.0, 1 - size_jitter / SIZE_SCALE)) / 2,
        "count": coverage,
        "duration": persistence,
    }
    score = sum(WEIGHTS[k] * v for k, v in parts.items())
    return grp, BeaconStats(events, period, jitter, skew, size_median, size_jitter, size_skew, coverage, persistence,
                            score)


def is_beacon(stats: BeaconStats | None, *, min_events: int, min_interval: float, max_jitter: float,
              min_score: float) -> bool:
    return (
        stats is not None
        and stats.events >= min_events
        and stats.period_seconds >= min_interval
        and stats.jitter <= max_jitter
        and stats.score >= min_score
    )


def beacon_stats(times: list[float], sizes: list[int] | None = None, *, window_seconds: float | None = None,
                 min_events: int = 3) -> BeaconStats | None:
    """The same SQL over one series in memory (tests, and one-off checks from a shell)."""
    import duckdb
    import pyarrow as pa

    sizes = sizes if sizes is not None else [0] * len(times)
    con = duckdb.connect()
    try:
        con.register("series", pa.table({"grp": ["x"] * len(times), "ts": pa.array(times, pa.float64()),
                                         "bytes": pa.array(sizes, pa.int64())}))
        rows = con.execute(STATS_SQL.format(rows="SELECT * FROM series", min_events=min_events)).fetchall()
    finally:
        con.close()
    if not rows:
        return None
    row = rows[0]
    window = window_seconds if window_seconds is not None else (max(times) - min(times) if times else 0.0)
    return score_row(row, window)[1]
