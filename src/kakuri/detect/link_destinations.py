"""Links to the kinds of destination phishing uses, judged where the reader lands.

Threat: credential-harvesting and lure pages put where anyone can publish in minutes under a name
no reputation list blocks: cloud buckets and serverless pages (`*.web.app`, `storage.googleapis.com`,
`*.r2.dev`), free hosts and site builders, file-sharing and form services, IPFS gateways, dynamic-DNS
names and tunnels, hidden behind shorteners and open redirectors; and links personalised with the
recipient's address, which the page then shows pre-filled in a fake login.
Technique: every clickable URL and the redirect targets written inside it (`parse.redirects`) are
matched against the destination classes of `kakuri/data/link_destinations.toml` plus the operator's
`<home>/rules/link_destinations/*.toml`; the recipient's address (envelope, else To/Cc) is looked
for in each URL, plain, percent-encoded or base64, and separately in the fragment (which never
reaches a server: only a script on the page reads it).
Emits: URL_CLOUD_HOSTING, URL_TUNNEL, URL_FREE_HOST, URL_FILE_SHARING, URL_FORM_BUILDER, URL_IPFS,
URL_DYNAMIC_DNS, URL_SHORTENER, URL_OPEN_REDIRECTOR, URL_IP_IN_HOSTNAME (a rented server's generic name such as
`203-0-113-5.host.provider.example`), URL_RECIPIENT_IN_URL, URL_RECIPIENT_IN_FRAGMENT.
One finding per symbol (the first URL, and `via` when it was reached through a redirect), count in evidence.
All are weak alone: honest mail shares Drive folders, runs surveys and tracks clicks; policy composites
pair them with a claimed brand, a lookalike or a lure.
Blind spots: whatever the lists do not name; destinations known only after fetching (shorteners).
"""

from __future__ import annotations

import base64
import logging
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import ClassVar, Iterable
from urllib.parse import quote

from kakuri.detect.attachment_links import attachment_urls
from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, SymbolSpec
from kakuri.parse.domains import is_ip_literal
from kakuri.parse.redirects import redirect_targets
from kakuri.parse.urls import Url, message_urls

log = logging.getLogger(__name__)

# Destination class (data file) -> symbol. link_protection is unwrapped, never reported.
CLASS_SYMBOLS = {
    "cloud_hosting": "URL_CLOUD_HOSTING",
    "tunnel": "URL_TUNNEL",
    "free_host": "URL_FREE_HOST",
    "file_sharing": "URL_FILE_SHARING",
    "form_builder": "URL_FORM_BUILDER",
    "ipfs": "URL_IPFS",
    "dynamic_dns": "URL_DYNAMIC_DNS",
    "shortener": "URL_SHORTENER",
    "open_redirector": "URL_OPEN_REDIRECTOR",
    "link_protection": "",
}
_LOADED_SOURCES = frozenset({"img", "iframe", "frame", "embed", "script", "object"})  # loaded, not clicked
_IP_IN_NAME = re.compile(r"(?:^|[.-])(?:\d{1,3}[.-]){3}\d{1,3}(?:[.-]|$)")
_IPFS_PATH = re.compile(r"^/ip[fn]s/(?:qm[1-9a-z]{44}|baf[a-z2-7]{50,})", re.IGNORECASE)
_IPFS_SUBDOMAIN = re.compile(r"^(?:qm[1-9a-z]{44}|baf[a-z2-7]{50,})\.ip[fn]s\.", re.IGNORECASE)


class DestinationDataError(ValueError):
    """A destination file cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Destinations:
    """Host suffix -> [(path prefix, class)] for every class, stock entries and the operator's."""

    by_suffix: dict[str, tuple[tuple[str, str], ...]]

    def classify(self, host: str, path: str) -> list[str]:
        """The classes of a URL by its host's suffixes (longest first) and optional path prefix."""
        labels = host.split(".")
        path = path.lower()
        for start in range(len(labels)):
            rules = self.by_suffix.get(".".join(labels[start:]))
            if rules:
                hits = [cls for prefix, cls in rules if not prefix or path.startswith(prefix)]
                if hits:
                    return hits
        return []


def load_destinations(operator_folder: Path | None = None) -> Destinations:
    """The stock classes plus every `*.toml` in `operator_folder` (same layout)."""
    stock = resources.files("kakuri") / "data" / "link_destinations.toml"
    files = [("kakuri/data/link_destinations.toml", stock.read_text(encoding="utf-8"))]
    if operator_folder is not None and operator_folder.is_dir():
        files += [(str(p), p.read_text(encoding="utf-8")) for p in sorted(operator_folder.glob("*.toml"))]
    table: dict[str, list[tuple[str, str]]] = {}
    for name, text in files:
        for cls, entry in _entries(name, text):
            host, slash, path = entry.partition("/")
            table.setdefault(host, []).append((slash + path if slash else "", cls))
    return Destinations({host: tuple(rules) for host, rules in table.items()})


def _entries(name: str, text: str) -> Iterable[tuple[str, str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DestinationDataError(f"{name}: {exc}. Fix the TOML syntax.") from exc
    for cls, body in (data.get("classes") or {}).items():
        if cls not in CLASS_SYMBOLS:
            raise DestinationDataError(
                f"{name}: unknown class {cls!r}; use one of {', '.join(sorted(CLASS_SYMBOLS))}.")
        for entry in body.get("entries", []):
            entry = str(entry).strip().lower()
            if not entry or "." not in entry.partition("/")[0] or "://" in entry:
                raise DestinationDataError(f"{name}: [{cls}] entry {entry!r} is not `host.suffix` or `host/path`.")
            yield cls, entry


class LinkDestinations:
    name: ClassVar[str] = "link_destinations"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("URL_CLOUD_HOSTING", "url",
                   "A link opens a page or file on a cloud provider's customer host (bucket, serverless app)"),
        SymbolSpec("URL_TUNNEL", "url", "A link opens a tunnel to someone's own machine (ngrok and the like)"),
        SymbolSpec("URL_FREE_HOST", "url", "A link opens a site on a free web host or site builder"),
        SymbolSpec("URL_FILE_SHARING", "url", "A link opens a file- or document-sharing service"),
        SymbolSpec("URL_FORM_BUILDER", "url", "A link opens a hosted form or survey builder"),
        SymbolSpec("URL_IPFS", "url", "A link opens content through an IPFS gateway"),
        SymbolSpec("URL_DYNAMIC_DNS", "url", "A link's host is a dynamic-DNS name"),
        SymbolSpec("URL_SHORTENER", "url", "A link goes through a URL shortener that hides the destination"),
        SymbolSpec("URL_OPEN_REDIRECTOR", "url",
                   "A link passes through a well-known site's redirect or proxy endpoint to another site"),
        SymbolSpec("URL_IP_IN_HOSTNAME", "url",
                   "A link's host name spells an IP address: a rented server's generic name, not a company's site"),
        SymbolSpec("URL_RECIPIENT_IN_URL", "url", "A link carries the recipient's address (plain or encoded)"),
        SymbolSpec("URL_RECIPIENT_IN_FRAGMENT", "url",
                   "A link carries the recipient's address after '#', where only a script on the page reads it"),
    )

    def __init__(self, operator_folder: Path | None = None) -> None:
        self.destinations = load_destinations(operator_folder)

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        hits: dict[str, dict[str, str]] = {}
        counts: dict[str, int] = {}
        recipients = _recipient_forms(message, ctx)
        for url in [*message_urls(message), *attachment_urls(ctx)]:
            if not url.host or not (url.is_link or url.source not in _LOADED_SOURCES):
                continue
            for symbol, evidence in self._check_url(url, recipients):
                counts[symbol] = counts.get(symbol, 0) + 1
                hits.setdefault(symbol, evidence)
        for symbol, evidence in hits.items():
            yield Finding(symbol, self.name, evidence={**evidence, "count": str(counts[symbol])})

    def _check_url(self, url: Url, recipients: list[tuple[str, str]]) -> Iterable[tuple[str, dict[str, str]]]:
        reported: set[str] = set()
        for hop in [url, *redirect_targets(url)]:
            via = {"via": url.host} if hop is not url else {}
            for cls in self._classes(hop):
                symbol = CLASS_SYMBOLS[cls]
                if symbol and symbol not in reported and not (symbol == "URL_OPEN_REDIRECTOR" and hop is not url):
                    reported.add(symbol)
                    yield symbol, {"url": hop.url[:300], "host": hop.host, **via}
        if _IP_IN_NAME.search(url.host) and not is_ip_literal(url.host):
            yield "URL_IP_IN_HOSTNAME", {"url": url.url[:300], "host": url.host}
        lowered = url.url.lower()
        for form, address in recipients:
            if form in url.url or form in lowered:
                fragment = url.url.partition("#")[2]
                in_fragment = form in fragment or form in fragment.lower()
                symbol = "URL_RECIPIENT_IN_FRAGMENT" if in_fragment else "URL_RECIPIENT_IN_URL"
                yield symbol, {"url": url.url[:300], "recipient": address}
                break

    def _classes(self, url: Url) -> list[str]:
        classes = self.destinations.classify(url.host, url.path)
        if "ipfs" not in classes and (_IPFS_PATH.match(url.path) or _IPFS_SUBDOMAIN.match(url.host)):
            classes = [*classes, "ipfs"]
        return classes


def _recipient_forms(message: ParsedMessage, ctx: ScanContext) -> list[tuple[str, str]]:
    """(form as it may appear in a URL, address) for each recipient: plain, percent-encoded, base64."""
    addresses = list(ctx.envelope.rcpt_tos) or message.recipients
    forms = []
    for address in list(dict.fromkeys(a.lower() for a in addresses if "@" in a))[:20]:
        # Base64 of an address inside a longer string is stable only for its whole 3-byte groups.
        stable = base64.b64encode(address.encode()).decode()[: len(address) // 3 * 4]
        forms += [(address, address), (quote(address, safe="").lower(), address), (stable, address),
                  (stable.replace("+", "-").replace("/", "_"), address)]
    return [(f, a) for f, a in forms if len(f) >= 6]
