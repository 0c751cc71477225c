"""The HUNT_* symbols: what `kakuri hunt` can say about a host or an account. Scores: policy/80-hunt.toml."""

from __future__ import annotations

from kakuri.model import SymbolSpec

DETECTOR = "hunt"


def _spec(name: str, description: str) -> SymbolSpec:
    return SymbolSpec(name=name, group="hunt", description=description)


SYMBOLS: tuple[SymbolSpec, ...] = (
    _spec("HUNT_FEED_C2", "Contacted a botnet C2 address:port listed (recently online) in the Feodo feed"),
    _spec("HUNT_FEED_C2_STALE", "Contacted an address:port the Feodo feed lists as a C2 that went offline long ago"),
    _spec("HUNT_FEED_URL", "Requested a URL listed in URLhaus (malware download)"),
    _spec("HUNT_FEED_URL_BLOCKED", "Requested a URLhaus-listed URL, but the proxy denied it"),
    _spec("HUNT_FEED_URL_HOST", "Requested a URL on a host that URLhaus lists for other malware URLs"),
    _spec("HUNT_FEED_DOMAIN_LOOKUP", "Resolved a host name that URLhaus lists as serving malware"),
    _spec("HUNT_FEED_HASH", "Received a file whose SHA-256 is in a malware hash list"),
    _spec("HUNT_BEACON", "Contacts a destination few other hosts use at regular intervals (beaconing)"),
    _spec("HUNT_BEACON_ROTATING", "Beacons at a regular period across several rare IP-literal destinations (C2 list)"),
    _spec("HUNT_IP_LITERAL_POST", "Posts data to rare IP-literal URLs it never resolved by DNS"),
    _spec("HUNT_IP_LITERAL_ROTATION", "Posts to several distinct rare IP-literal destinations (C2 failover)"),
    _spec("HUNT_C2_PATH_CHURN", "Posts to a rare IP literal under ever-changing random paths"),
    _spec("HUNT_UNCOMMON_PORT", "Talks to a rare destination on a port other than 80/443"),
    _spec("HUNT_PAYLOAD_DOWNLOAD", "Downloaded an executable or Office document from a host few others use"),
    _spec("HUNT_DIRECT_SMTP", "A workstation connects to external mail servers itself (spam bot)"),
    _spec("HUNT_MX_LOOKUPS", "A workstation looks up MX records of many domains"),
    _spec("HUNT_MAIL_BURST", "Sent far more messages within a short window than senders here usually do"),
    _spec("HUNT_MAIL_FANOUT", "Wrote to many recipients never corresponded with before, across many messages"),
    _spec("HUNT_MAIL_REPLY_TO_STRANGERS", "Sent 'Re:' messages to addresses that were never in correspondence"),
    _spec("HUNT_MAIL_HARD_BOUNCES", "Many of its recipients do not exist (harvested or stale addresses)"),
    _spec("HUNT_MAIL_AUTH_EXTERNAL", "Logged in by SMTP AUTH from an address outside our networks"),
    _spec("HUNT_MAIL_AUTH_MANY_SOURCES", "Logged in by SMTP AUTH from several outside addresses"),
    _spec("HUNT_ACCOUNT_ON_INFECTED_HOST", "The account sends mail from a host judged infected"),
    _spec("HUNT_RELAY_ROLE", "A proxy, resolver or mail server: its upstream traffic belongs to its clients"),
)
