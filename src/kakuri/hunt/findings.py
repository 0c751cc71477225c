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

from kakuri.hunt.beaconing import beacon_stats, is_beacon
from kakuri.hunt.config import HuntConfig
from kakuri.hunt.mail import MailAggregate, SenderStats
from kakuri.hunt.network import HostTraffic, NetworkAggregate, PairStats
from kakuri.hunt.symbols import DETECTOR
from kakuri.model import Finding

WEB_PORTS = frozenset({80, 443})
_HIT_SYMBOLS = {
    "c2": "HUNT_FEED_C2", "c2_stale": "HUNT_FEED_C2_STALE", "url": "HUNT_FEED_URL",
    "url_blocked": "HUNT_FEED_URL_BLOCKED", "url_host": "HUNT_FEED_URL_HOST", "hash": "HUNT_FEED_HASH",
    "dns_url_host": "HUNT_FEED_DOMAIN_LOOKUP",
}


def _finding(symbol: str, ts: float | None, **evidence) -> tuple[Finding, float | None]:
    return Finding(symbol, DETECTOR, evidence={k: str(v) for k, v in evidence.items()}), ts


def rare_limit(net: NetworkAggregate, relays: set[str], cfg: HuntConfig) -> int:
    population = sum(1 for ip in net.hosts if ip not in relays)
    return max(cfg.rare_max_hosts, int(population * cfg.rare_max_fraction))


def host_findings(
    host: HostTraffic, net: NetworkAggregate, relays: set[str], limit: int, cfg: HuntConfig
) -> list[tuple[Finding, float | None]]:
    """Findings with the time each was first seen (for first_seen)."""
    out = _feed_findings(host)
    rare = {dst: p for dst, p in host.pairs.items() if len(net.prevalence.get(dst, ()) - relays) <= limit}
    out += _beacon_findings(rare, cfg)
    out += _literal_findings(host, rare, cfg)
    payloads = [h for h in host.hits if h.kind == "payload" and h.detail["dst"] in rare
                and int(h.detail["bytes"]) >= cfg.payload_min_bytes
                and rare[h.detail["dst"]].count <= cfg.payload_max_contacts]
    if payloads:
        out.append(_finding("HUNT_PAYLOAD_DOWNLOAD", payloads[0].ts, count=len(payloads),
                            urls=" ".join(h.detail["url"] for h in payloads[:5])))
    external_smtp = {d: t for d, t in host.smtp_destinations.items() if d in rare}
    if len(external_smtp) >= cfg.direct_smtp_min_destinations:
        out.append(_finding("HUNT_DIRECT_SMTP", min(external_smtp.values()), servers=len(external_smtp)))
    if len(host.mx_domains) >= cfg.mx_lookup_min_domains:
        out.append(_finding("HUNT_MX_LOOKUPS", None, domains=len(host.mx_domains),
                            examples=" ".join(sorted(host.mx_domains)[:5])))
    return out


def _feed_findings(host: HostTraffic) -> list[tuple[Finding, float | None]]:
    grouped: dict[str, list] = {}
    for hit in host.hits:
        if hit.kind in _HIT_SYMBOLS:
            grouped.setdefault(hit.kind, []).append(hit)
    out = []
    for kind, hits in grouped.items():
        key = {"c2": "dst", "c2_stale": "dst", "hash": "sha256", "dns_url_host": "query"}.get(kind, "url")
        distinct = sorted({h.detail.get(key, "") for h in hits})
        out.append(_finding(_HIT_SYMBOLS[kind], min(h.ts for h in hits), count=host.hit_counts[kind],
                            distinct=len(distinct), examples=" ".join(distinct[:5])))
    return out


def _beacon_findings(rare: dict[str, PairStats], cfg: HuntConfig) -> list[tuple[Finding, float | None]]:
    out = []
    for dst, pair in sorted(rare.items(), key=lambda item: -item[1].count):
        if pair.timing_excluded or pair.blocked == pair.count:
            continue
        stats = beacon_stats(pair.times)
        if is_beacon(stats, min_events=cfg.beacon_min_events, min_interval=cfg.beacon_min_interval_seconds,
                     max_jitter=cfg.beacon_max_jitter):
            out.append(_finding("HUNT_BEACON", pair.first, dst=dst, **stats.as_evidence()))
            break  # one is enough to score; the evidence names the strongest
    return out


def _literal_findings(host: HostTraffic, rare: dict[str, PairStats], cfg: HuntConfig) -> list[tuple[Finding, float | None]]:
    # A direct connection counts as "no DNS" only for hosts whose lookups the sensor sees at all
    dns_visible = host.dns_queries > 0
    posting = {d: p for d, p in rare.items()
               if p.literal and p.posts and not p.timing_excluded and d not in host.resolved_ips
               and (dns_visible or not p.direct)}
    out = []
    if posting:
        first = min(p.first for p in posting.values())
        out.append(_finding("HUNT_IP_LITERAL_POST", first, destinations=len(posting),
                            examples=" ".join(sorted(posting)[:5])))
        rotating = len(posting) >= cfg.rotation_min_destinations
        if rotating:
            out.append(_finding("HUNT_IP_LITERAL_ROTATION", first, destinations=len(posting)))
        churn = [d for d, p in posting.items() if len(p.paths) >= 3 and len(p.paths) * 2 >= p.posts]
        if churn:
            out.append(_finding("HUNT_C2_PATH_CHURN", first, destinations=len(churn)))
        if rotating:
            merged = [t for p in posting.values() for t in p.times]
            stats = beacon_stats(merged)
            if is_beacon(stats, min_events=cfg.beacon_min_events, min_interval=cfg.beacon_min_interval_seconds,
                         max_jitter=cfg.beacon_max_jitter):
                out.append(_finding("HUNT_BEACON_ROTATING", first, **stats.as_evidence()))
    odd = sorted(d for d, p in rare.items() if (p.ports - WEB_PORTS) and p.count > p.blocked and not p.timing_excluded
                 and not (p.ports & {25, 465, 587}))
    if odd:
        out.append(_finding("HUNT_UNCOMMON_PORT", None, destinations=len(odd), examples=" ".join(odd[:5])))
    return out


# --- mail ---------------------------------------------------------------------------------------
def mail_baselines(mail: MailAggregate) -> tuple[float, float]:
    """Median per-account peak burst and peak new-recipient messages: what 'usual' means here."""
    senders = [s for s in mail.accounts.values() if s.messages]
    if not senders:
        return 1.0, 1.0
    return median(s.peak_burst for s in senders), median(s.peak_new_messages for s in senders)


def sender_findings(
    stats: SenderStats, mail: MailAggregate, baselines: tuple[float, float], cfg: HuntConfig, *, is_account: bool
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
    strangers = mail.stranger_replies(stats)
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
