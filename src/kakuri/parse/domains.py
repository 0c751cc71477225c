"""Host names: IDNA decoding, IP literals and the registrable ("organisational") domain.

The registrable domain comes from `tldextract` with its bundled Public Suffix List snapshot and no
network access, ever. The RFC 2606/6761 reserved names (`.example`, `.test`, `example.com`, ...)
are added as public suffixes, so `precision-parts.example.com` is an organisation of its own, as it
is in test data and documentation, instead of a subdomain of `example.com`.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from functools import lru_cache

import tldextract

RESERVED_SUFFIXES = ("example", "test", "invalid", "localhost", "example.com", "example.net", "example.org")

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, extra_suffixes=RESERVED_SUFFIXES)


def normalise_host(host: str) -> str:
    """Lower case, NFKC (full-width `ｔｏｋａｉ` is `tokai`, as IDNA maps it), no trailing dot, no brackets."""
    if not host.isascii():
        host = unicodedata.normalize("NFKC", host).replace("\u3002", ".")
    return host.strip().strip("[]").rstrip(".").lower()


def to_unicode(host: str) -> str:
    """`xn--` labels decoded for display and homoglyph checks; undecodable labels stay as they are."""
    if "xn--" not in host:
        return host
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return ".".join(labels)


@lru_cache(maxsize=8192)
def is_ip_literal(host: str) -> bool:
    host = normalise_host(host)
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    # Browsers also accept integer, hex and octal hosts (http://3221225985/); no real name is all digits.
    return bool(host) and (host.isdigit() or host.startswith("0x") and _is_hex(host[2:]))


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
        return True
    except ValueError:
        return False


@lru_cache(maxsize=8192)
def split_domain(host: str) -> tuple[str, str, str]:
    """(subdomain, label, suffix) of a host: `a.b.tokai-keiki.co.jp` -> ("a.b", "tokai-keiki", "co.jp").

    Unicode hosts are decoded first so that `xn--` and Unicode spellings of a name compare equal.
    """
    host = to_unicode(normalise_host(host))
    parts = _EXTRACT(host)
    return parts.subdomain, parts.domain, parts.suffix


def registrable_domain(host: str) -> str:
    """The organisational domain (`mail.tokai-keiki.co.jp` -> `tokai-keiki.co.jp`); "" for IPs and bare suffixes."""
    if is_ip_literal(host):
        return ""
    _, label, suffix = split_domain(host)
    if not label:
        return ""
    return f"{label}.{suffix}" if suffix else label


def is_same_or_subdomain(host: str, domain: str) -> bool:
    host, domain = normalise_host(host), normalise_host(domain)
    return host == domain or host.endswith("." + domain)
