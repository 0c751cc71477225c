"""Lure links: URLs in the body that lead to a download, hide where they go, or imitate someone.

Threat: Emotet's link variant: no attachment, a short "please download the invoice" text and a link
to a .doc/.zip on a hacked WordPress site or a bare IP, often behind anchor text that shows our own
domain or an innocent "請求書をダウンロード".
Technique: each clickable URL (from `parse.urls.message_urls`), and each target written inside it
(`parse.redirects`: trackers, open redirectors, rewritten links; evidence `via`), is checked for a
file download by path extension (Office/archive vs executable/script), an IP-literal or odd-port host, `user@host`
authority tricks, IDN hosts, data:/javascript: links, a link into a CMS's own
directories on a site unrelated to the sender, a host made to look like ours or a partner's
(`detect.lookalike`), anchor text naming another domain than the href's, and URLhaus feed entries (full URL, then host). Each symbol is a weak signal on its
own: policy composites combine them (a download from an IP, a download behind a lookalike, ...), so a
newsletter with a hundred tracking links or an invitation with a meeting link stays clean.
Emits: URL_FILE_DOWNLOAD, URL_EXECUTABLE_DOWNLOAD, URL_DOWNLOAD_UNRELATED_HOST, URL_CMS_INTERNAL_PATH,
URL_IP_HOST, URL_NONSTANDARD_PORT, URL_USERINFO, URL_IDN_HOST, URL_SCRIPT_SCHEME,
URL_LOOKALIKE_DOMAIN, URL_TEXT_MISMATCH, URL_TEXT_MISMATCH_KNOWN_DOMAIN, URL_LINK_UNKNOWN_HOST (no score of
its own: policy pairs it with display-name impersonation, whose lure link needs no tell-tale path), URL_FEED_MATCH,
URL_FEED_HOST_MATCH. One finding per symbol (the first URL), with the count in evidence.
Links into private networks (RFC 1918 addresses, single-label intranet names) are skipped: colleagues
share file-server paths, and no outside sender can serve a payload from there.
Blind spots: extension-less downloads outside CMS folders (`/INVOICE/sh0hwv/`) unless the host is
an IP or in the feed; redirect targets only the redirector's server knows (nothing is fetched);
defanged URLs.
"""

from __future__ import annotations

import csv
import ipaddress
import logging
import re
from pathlib import Path
from typing import ClassVar, Iterable

from kakuri.detect.attachment_links import attachment_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.lookalike import find_lookalike
from kakuri.model import Finding, ParsedMessage, SymbolSpec
from kakuri.parse.domains import is_ip_literal, registrable_domain, split_domain
from kakuri.parse.redirects import redirect_targets
from kakuri.parse.urls import Url, message_urls, normalise_url

log = logging.getLogger(__name__)

OFFICE_ARCHIVE = frozenset(
    "doc docm docx dot dotm xls xlsm xlsb xlsx xlt xltm xla xlam ppt pptm pptx pps ppsm potm rtf one "
    "zip rar 7z gz tgz bz2 xz tar cab ace arj lzh lha z uue jar".split())
EXECUTABLE = frozenset(
    "exe scr com pif bat cmd js jse vbs vbe wsf wsh hta ps1 psm1 lnk msi msp dll cpl sys reg chm "
    "iso img vhd vhdx apk dmg appx msix url inf".split())
STANDARD_PORTS = frozenset({None, 80, 443, 21})
_CMS_DIRS = ("/wp-content/", "/wp-admin/", "/wp-includes/", "/components/com_", "/sites/default/files/")
_DOMAIN_IN_TEXT = re.compile(r"(?:https?://)?((?:[\w-]+\.)+[\w-]{2,})(?=[/:\s]|$)", re.IGNORECASE)
_FILE_LIKE_SUFFIXES = OFFICE_ARCHIVE | EXECUTABLE | frozenset("pdf mov mp4 png jpg gif txt csv py sh".split())
_INTERNAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8",
    "::1/128", "fc00::/7", "fe80::/10"))
_TLD_EXTENSIONS = frozenset({"com", "zip", "mov"})
_HOST_NAME = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_SERVER_EXTENSIONS = frozenset({"dll"})  # IIS ISAPI endpoints (`eBayISAPI.dll?ViewItem`)
_FEED_URL_COLUMN = 2  # id, dateadded, url, url_status, ...


def load_urlhaus(folder: Path | None) -> tuple[frozenset[str], frozenset[str]]:
    """(URLs, hosts) from every URLhaus CSV dump in `folder`; a bad file is logged and skipped."""
    urls: set[str] = set()
    if folder is not None and folder.is_dir():
        for path in sorted(folder.glob("*.csv")):
            try:
                with path.open(encoding="utf-8", errors="replace", newline="") as handle:
                    rows = csv.reader(line for line in handle if not line.startswith("#"))
                    urls.update(normalise_url(row[_FEED_URL_COLUMN]) for row in rows if len(row) > _FEED_URL_COLUMN)
            except (OSError, csv.Error) as exc:
                log.warning("URL feed %s skipped: %s", path, exc)
    hosts = {h for h in (_host_of(u) for u in urls) if h}
    return frozenset(urls), frozenset(hosts)


def _host_of(key: str) -> str:
    rest = key.partition("://")[2]
    return rest.partition("/")[0].rpartition("@")[2].split(":")[0].strip("[]")


def file_kind(url: Url) -> str | None:
    """"executable", "document" (Office or archive) or None, by the path's extension.

    A last segment that is a host name (`/jump/www.example.com`, `/click/123/shop.example.com`: a
    redirector naming its target) or a server extension called with a query (`/ws/eBayISAPI.dll?View`)
    is an endpoint, not a file: `.com`, `.zip` and `.mov` are top-level domains too.
    """
    name = url.path.rstrip("/").rsplit("/", 1)[-1]
    if "." not in name:
        return None
    ext = name.rsplit(".", 1)[-1].lower()
    if ext in _TLD_EXTENSIONS and _is_host_name(name, url.path):
        return None
    if ext in _SERVER_EXTENSIONS and _has_query(url):
        return None
    if ext in EXECUTABLE:
        return "executable"
    return "document" if ext in OFFICE_ARCHIVE else None


class UrlLures:
    name: ClassVar[str] = "urls"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("URL_FILE_DOWNLOAD", "url", "A link downloads an Office document or an archive"),
        SymbolSpec("URL_EXECUTABLE_DOWNLOAD", "url", "A link downloads an executable, script, shortcut or disk image"),
        SymbolSpec("URL_DOWNLOAD_UNRELATED_HOST", "url",
                   "A file download is hosted on a domain that is neither the sender's, ours nor a partner's"),
        SymbolSpec("URL_CMS_INTERNAL_PATH", "url",
                   "A link into a CMS's own directories (wp-admin, wp-includes, wp-content) on a site unrelated "
                   "to the sender: where hacked sites serve malware"),
        SymbolSpec("URL_IP_HOST", "url", "A link points to a bare IP address instead of a name"),
        SymbolSpec("URL_NONSTANDARD_PORT", "url", "A link uses an unusual port"),
        SymbolSpec("URL_USERINFO", "url", "A link hides its real host behind 'something@' in the address"),
        SymbolSpec("URL_IDN_HOST", "url", "A link's host is an internationalised (punycode) name"),
        SymbolSpec("URL_SCRIPT_SCHEME", "url", "A link or form uses a data: or javascript: address"),
        SymbolSpec("URL_LOOKALIKE_DOMAIN", "url", "A link's domain imitates one of ours or a known partner's"),
        SymbolSpec("URL_TEXT_MISMATCH", "url", "A link's visible text names another domain than the one it opens"),
        SymbolSpec("URL_TEXT_MISMATCH_KNOWN_DOMAIN", "url",
                   "A link's visible text shows our or a partner's domain but it opens another site"),
        SymbolSpec("URL_LINK_UNKNOWN_HOST", "url",
                   "A link opens a site that is neither ours nor a known partner's (context for composites)"),
        SymbolSpec("URL_FEED_MATCH", "url", "A link is listed in a malicious-URL feed (URLhaus)"),
        SymbolSpec("URL_FEED_HOST_MATCH", "url", "A link's host has malicious URLs listed in a feed (URLhaus)"),
    )

    def __init__(self, feed_folder: Path | None = None) -> None:
        self.feed_urls, self.feed_hosts = load_urlhaus(feed_folder)

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        hits: dict[str, tuple[Url, dict[str, str]]] = {}
        counts: dict[str, int] = {}
        sender_org = registrable_domain(message.from_addr.rpartition("@")[2])
        for url in [*message_urls(message), *attachment_urls(ctx)]:
            hops = [url, *redirect_targets(url)] if url.is_link and url.host else [url]
            for hop in hops:
                via = {"via": url.host} if hop is not url else {}
                for symbol, evidence in self._check_url(hop, sender_org, ctx, hops if hop is url else ()):
                    counts[symbol] = counts.get(symbol, 0) + 1
                    hits.setdefault(symbol, (hop, {**evidence, **via}))
        for symbol, (url, evidence) in hits.items():
            yield Finding(symbol, self.name, evidence={
                "url": url.url[:300], **evidence, "count": str(counts[symbol])})

    def _check_url(self, url: Url, sender_org: str, ctx: ScanContext,
                   hops: Iterable[Url] = ()) -> Iterable[tuple[str, dict[str, str]]]:
        """Judge one URL: the clicked link (with its redirect `hops`) or a target written inside one."""
        if url.scheme in ("data", "javascript", "vbscript"):
            if url.is_link:
                yield "URL_SCRIPT_SCHEME", {"scheme": url.scheme}
            return
        if not url.host:
            return
        yield from self._feed(url)
        if not url.is_link:
            return  # images and scripts the client loads are not what the reader is lured to
        if is_internal_host(url.host):
            return  # the intranet file server: no outside sender can serve a payload from there
        ip_host = is_ip_literal(url.host)
        if ip_host:
            yield "URL_IP_HOST", {"host": url.host}
        if url.port not in STANDARD_PORTS:
            yield "URL_NONSTANDARD_PORT", {"port": str(url.port)}
        if url.userinfo:
            yield "URL_USERINFO", {"userinfo": url.userinfo[:100], "host": url.host}
        if "xn--" in url.host or not url.host.isascii():
            yield "URL_IDN_HOST", {"host": url.host}
        lookalike = None if ip_host else find_lookalike(url.host, ctx.knowledge)
        if lookalike:
            yield "URL_LOOKALIKE_DOMAIN", {
                "domain": lookalike.domain, "imitates": lookalike.imitates, "technique": lookalike.technique}
        unrelated = _is_unrelated(url.host, sender_org, ctx)
        if not _is_known(registrable_domain(url.host) or url.host, ctx):
            # Whatever the sender's own domain: an impostor may well mail from the hacked site it links to.
            yield "URL_LINK_UNKNOWN_HOST", {"host": url.host}
        yield from self._download(url, unrelated, sender_org)
        if unrelated and any(d in url.path.lower() for d in _CMS_DIRS):
            yield "URL_CMS_INTERNAL_PATH", {"host": url.host, "path": url.path[:100]}
        if url.anchor and hops:
            yield from self._mismatch(url, list(hops), sender_org, ctx)

    def _feed(self, url: Url) -> Iterable[tuple[str, dict[str, str]]]:
        if not self.feed_hosts:
            return
        if normalise_url(url.url) in self.feed_urls:
            yield "URL_FEED_MATCH", {"feed": "urlhaus"}
        elif url.host in self.feed_hosts:
            yield "URL_FEED_HOST_MATCH", {"feed": "urlhaus", "host": url.host}

    def _download(self, url: Url, unrelated: bool, sender_org: str) -> Iterable[tuple[str, dict[str, str]]]:
        kind = file_kind(url)
        if kind is None:
            return
        file = url.path.rstrip("/").rsplit("/", 1)[-1][:100]
        yield ("URL_EXECUTABLE_DOWNLOAD" if kind == "executable" else "URL_FILE_DOWNLOAD"), {"file": file}
        if unrelated:
            yield "URL_DOWNLOAD_UNRELATED_HOST", {"host": url.host, "sender_domain": sender_org}

    def _mismatch(self, url: Url, hops: list[Url], sender_org: str,
                  ctx: ScanContext) -> Iterable[tuple[str, dict[str, str]]]:
        """Anchor text naming a domain that neither the link nor the target written inside it opens
        (a newsletter tracker naming the shop it forwards to is honest)."""
        shown = _domain_shown(url.anchor)
        if not shown:
            return
        if any(shown == (registrable_domain(hop.host) or hop.host) for hop in hops):
            return
        evidence = {"shown": shown, "opens": hops[-1].host}
        if _is_known(shown, ctx) and shown != sender_org:
            yield "URL_TEXT_MISMATCH_KNOWN_DOMAIN", evidence
        else:
            yield "URL_TEXT_MISMATCH", evidence


def _is_host_name(name: str, path: str) -> bool:
    name = name.lower()
    if not _HOST_NAME.fullmatch(name):
        return False
    written_as_url = "//" in path or ":/" in path
    # MS-DOS `.com` programs are extinct on the web; `name.com` at the end of a path is a site's name.
    return written_as_url or name.startswith("www.") or name.endswith(".com")


def _has_query(url: Url) -> bool:
    rest = url.url.partition("://")[2]
    return "?" in rest or ";" in rest.partition("/")[2]


def is_internal_host(host: str) -> bool:
    """A private-network address (RFC 1918, CGNAT, link-local, loopback, ULA) or a single-label name.

    `ipaddress.is_private` is not used: it also covers the documentation ranges, which stand for
    public hosts in test data and examples."""
    if "." not in host and ":" not in host:
        return not host.isdigit()  # `fileserver01`, `intranet`; all-digit hosts are integer IPs
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(address in network for network in _INTERNAL_NETWORKS)


def _domain_shown(anchor: str) -> str:
    """The registrable domain (or IP) the anchor text presents as the destination, if any."""
    match = _DOMAIN_IN_TEXT.search(anchor)
    if not match:
        return ""
    host = match.group(1).lower()
    if is_ip_literal(host):
        return host
    _, label, suffix = split_domain(host)
    if not match.group(0).lower().startswith(("http", "www.")) and suffix in _FILE_LIKE_SUFFIXES:
        return ""  # "document.zip" in the text is a file name, not the .zip TLD
    return f"{label}.{suffix}" if label and suffix else ""


def _is_unrelated(host: str, sender_org: str, ctx: ScanContext) -> bool:
    """Neither the sender's organisation nor ours nor a known partner's (IP literals included)."""
    org = registrable_domain(host)
    return not org or (org != sender_org and not _is_known(org, ctx))


def _is_known(domain: str, ctx: ScanContext) -> bool:
    knowledge = ctx.knowledge
    return knowledge.is_our_domain(domain) or any(
        domain == d or domain.endswith("." + d) for d in knowledge.partner_domains)
