"""Aggregates -> HUNT_* findings, per host and per mail sender.

Threat: PCs running Emotet-style malware (C2 calls, payload downloads, spam modules) and mail accounts
whose credentials are abused. Technique: every behavioural test looks only at destinations that are
rare across our hosts (prevalence): a destination many hosts talk to (updates, NTP, SaaS, CDN, a
licence server) is not C2, however periodic. Mail tests compare a sender with the population of
senders in the same log, so they scale with the organisation instead of a fixed volume.
Emits: HUNT_FEED_*, HUNT_BEACON(_ROTATING), HUNT_IP_LITERAL_POST/ROTATION, HUNT_C2_PATH_CHURN,
HUNT_UNCOMMON_PORT, HUNT_PAYLOAD_DOWNLOAD, HUNT_DIRECT_SMTP, HUNT_MX_LOOKUPS, HUNT_MAIL_*.
Blind spots: C2 shared by more than the rare share of hosts (a mass outbreak looks "common"); C2 by
host name over HTTPS with random periods; payloads fetched over HTTPS from hosts in no feed; a host
whose user sent no mail cannot be linked to its mailbox (no IMAP/DHCP logs are read).
"""

from __future__ import annotations

from statistics import median

from kakuri.hunt.analysis import HostView, Pair
from kakuri.hunt.beaconing import is_beacon
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.mail import MailView, SenderStats
from kakuri.hunt.symbols import DETECTOR
from kakuri.model import Finding

WEB_PORTS = frozenset({80, 443})
SMTP_PORTS = frozenset({25, 465, 587})
_HIT_SYMBOLS = {
    "c2": "HUNT_FEED_C2", "c2_stale": "HUNT_FEED_C2_STALE", "url": "HUNT_FEED_URL",
    "url_blocked": "HUNT_FEED_URL_BLOCKED", "url_host": "HUNT_FEED_URL_HOST", "hash": "HUNT_FEED_HASH",
    "dns_url_host": "HUNT_FEED_DOMAIN_LOOKUP",
}


def _finding(symbol: str, ts: float | None, **evidence) -> tuple[Finding, float | None]:
    return Finding(symbol, DETECTOR, evidence={k: str(v) for k, v in evidence.items()}), ts


def host_findings(host: HostView, cfg: HuntConfig) -> list[tuple[Finding, float | None]]:
    """Findings with the time each was first seen (for first_seen). `host.pairs` holds only rare destinations."""
    if not (host.pairs or host.hits or host.payloads or host.smtp_destinations or host.mx_count):
        return []  # most hosts: nothing rare, listed or dropped to look at
    out = _feed_findings(host)
    out += _beacon_findings(host.pairs, cfg)
    out += _literal_findings(host, cfg)
    if host.payloads:
        out.append(_finding("HUNT_PAYLOAD_DOWNLOAD", host.payloads[0][0], count=len(host.payloads),
                            urls=" ".join(url for _, url in host.payloads[:5])))
    if len(host.smtp_destinations) >= cfg.direct_smtp_min_destinations:
        out.append(_finding("HUNT_DIRECT_SMTP", min(host.smtp_destinations.values()), servers=len(host.smtp_destinations)))
    if host.mx_count >= cfg.mx_lookup_min_domains:
        out.append(_finding("HUNT_MX_LOOKUPS", None, domains=host.mx_count, examples=" ".join(host.mx_domains)))
    return out


def _feed_findings(host: HostView) -> list[tuple[Finding, float | None]]:
    return [_finding(_HIT_SYMBOLS[kind], hit.first, count=hit.count, distinct=hit.distinct, examples=" ".join(hit.examples))
            for kind, hit in sorted(host.hits.items()) if kind in _HIT_SYMBOLS]


def _beacon_findings(pairs: dict[str, Pair], cfg: HuntConfig) -> list[tuple[Finding, float | None]]:
    beacons = [(dst, p) for dst, p in pairs.items() if _is_beacon(p.beacon, cfg)]
    if not beacons:
        return []
    dst, pair = max(beacons, key=lambda item: (item[1].beacon.score, item[1].contacts))
    # one is enough to score; the evidence names the strongest and how many others there are
    return [_finding("HUNT_BEACON", pair.first, dst=dst, destinations=len(beacons), **pair.beacon.as_evidence())]


def _is_beacon(stats, cfg: HuntConfig) -> bool:
    return is_beacon(stats, min_events=cfg.beacon_min_events, min_interval=cfg.beacon_min_interval_seconds,
                     max_jitter=cfg.beacon_max_jitter, min_score=cfg.beacon_min_score)


def _literal_findings(host: HostView, cfg: HuntConfig) -> list[tuple[Finding, float | None]]:
    posting = {d: p for d, p in host.pairs.items() if p.posting}
    out = []
    if posting:
        first = min(p.first for p in posting.values())
        out.append(_finding("HUNT_IP_LITERAL_POST", first, destinations=len(posting),
                            examples=" ".join(sorted(posting)[:5])))
        rotating = len(posting) >= cfg.rotation_min_destinations
        if rotating:
            out.append(_finding("HUNT_IP_LITERAL_ROTATION", first, destinations=len(posting)))
        churn = [d for d, p in posting.items() if p.paths >= 3 and p.paths * 2 >= p.posts]
        if churn:
            out.append(_finding("HUNT_C2_PATH_CHURN", first, destinations=len(churn)))
        if rotating and _is_beacon(host.rotation, cfg):
            out.append(_finding("HUNT_BEACON_ROTATING", first, **host.rotation.as_evidence()))
    odd = sorted(d for d, p in host.pairs.items() if (set(p.ports) - WEB_PORTS) and p.contacts > p.blocked
                 and not p.excluded and not (set(p.ports) & SMTP_PORTS))
    if odd:
        out.append(_finding("HUNT_UNCOMMON_PORT", None, destinations=len(odd), examples=" ".join(odd[:5])))
    return out


# --- mail ---------------------------------------------------------------------------------------
def mail_baselines(mail: MailView) -> tuple[float, float]:
    """Median per-account peak burst and peak new-recipient messages: what 'usual' means here."""
    senders = [s for s in mail.accounts.values() if s.messages]
    if not senders:
        return 1.0, 1.0
    return median(s.peak_burst for s in senders), median(s.peak_new_messages for s in senders)


def sender_findings(
    stats: SenderStats, baselines: tuple[float, float], cfg: HuntConfig, *, is_account: bool
) -> list[tuple[Finding, float | None]]:
    burst_base, fanout_base = baselines
    out = []
    burst_needed = max(cfg.burst_min_messages, cfg.burst_factor * burst_base)
    if stats.peak_burst >= burst_needed:
        out.append(_finding("HUNT_MAIL_BURST", stats.peak_burst_start, peak=stats.peak_burst, window_s=cfg.burst_window_seconds,
                            usual=f"{burst_base:g}"))
    fanout_needed = max(cfg.fanout_min_messages, cfg.burst_factor * fanout_base)
    if stats.peak_new_messages >= fanout_needed and stats.new_recipients >= cfg.fanout_min_new_recipients:
        out.append(_finding("HUNT_MAIL_FANOUT", stats.peak_new_start, messages_per_day=stats.peak_new_messages,
                            new_recipients=stats.new_recipients, usual=f"{fanout_base:g}"))
    strangers = stats.stranger_replies
    if strangers >= cfg.stranger_reply_min:
        out.append(_finding("HUNT_MAIL_REPLY_TO_STRANGERS", None, messages=strangers, replies=stats.replies))
    if stats.hard_bounces >= cfg.hard_bounce_min and \
            stats.hard_bounces >= cfg.hard_bounce_min_ratio * max(stats.external_recipients, 1):
        out.append(_finding("HUNT_MAIL_HARD_BOUNCES", None, bounced=stats.hard_bounces,
                            recipients=stats.external_recipients))
    if is_account and stats.auth_external_ips:
        ips = sorted(stats.auth_external_ips)
        out.append(_finding("HUNT_MAIL_AUTH_EXTERNAL", stats.first_external_auth, sources=len(ips), examples=" ".join(ips[:5])))
        if len(ips) >= cfg.external_auth_many_sources:
            out.append(_finding("HUNT_MAIL_AUTH_MANY_SOURCES", None, sources=len(ips)))
    return out
