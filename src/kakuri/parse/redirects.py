"""Redirect targets written inside a URL: click trackers, open redirectors and rewritten links.

A phishing link often leaves through a name nobody blocks (`google.com/url?q=`, a newsletter
tracker, a security gateway's rewritten link) and names its real destination in the URL itself. We
read that destination so that detectors judge where the reader lands, not only where they click.

Technique, without fetching anything: a query or fragment value that is an http(s) URL, a `www.` name,
or base64 of one (`aHR0c` is base64 of "http", as in Bing's `u=a1aHR0c...`); a second URL inside the
path (`/jump/http://x`, Google's `/amp/s/x` and `/amp/x`, Proofpoint's `/v3/__https://x__`);
Proofpoint v2's `u=https-3A__x`; a path segment that is a `www.` host name (trackers that put the
target host in the path).
Blind spot: targets only the redirector's server knows (shorteners, opaque tracker ids).
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from urllib.parse import parse_qsl, unquote, urlsplit

from kakuri.parse.urls import Url, make_url

MAX_DEPTH = 3  # a rewritten link of a tracker of an open redirector is three hops; more is noise
MAX_TARGETS = 4
_EMBEDDED = re.compile(r"(?:https?:/{1,2}|https?%3a%2f%2f)", re.IGNORECASE)
_BASE64_HTTP = re.compile(r"aHR0c[A-Za-z0-9+/_-]{8,}={0,2}")
_AMP = re.compile(r"^/amp/(?:s/)?([a-z0-9-]+(?:\.[a-z0-9-]+)+(?:[/?#].*)?)$", re.IGNORECASE)
_PAGE_NAME = re.compile(r"\.(?:html?|php|aspx?|jsp|cgi)$", re.IGNORECASE)  # `/amp/story.html` is a page
_PROOFPOINT_V2 = re.compile(r"^https?-3A__", re.IGNORECASE)
_PROOFPOINT_V3 = re.compile(r"/v3/__(https?://.+?)__", re.IGNORECASE)
_WWW_SEGMENT = re.compile(r"/(www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+)(/[^?#]*)?", re.IGNORECASE)


@lru_cache(maxsize=4096)
def redirect_targets(url: Url) -> tuple[Url, ...]:
    """The URLs written inside `url`, then the URLs inside those (up to MAX_DEPTH), outermost first.

    Cached: the link, destination and brand detectors all ask for the same links."""
    found: list[Url] = []
    frontier, seen = [url], {url.url}
    for _ in range(MAX_DEPTH):
        next_frontier = []
        for outer in frontier:
            for target in _direct_targets(outer):
                if target.url not in seen and len(found) < MAX_TARGETS:
                    seen.add(target.url)
                    found.append(target)
                    next_frontier.append(target)
        if not next_frontier:
            break
        frontier = next_frontier
    return tuple(found)


def _direct_targets(url: Url) -> list[Url]:
    if not url.host:
        return []
    raw = url.url
    try:
        parts = urlsplit(raw)
    except ValueError:
        return []
    candidates: list[str] = []
    match = _PROOFPOINT_V3.search(raw)
    if match:
        candidates.append(match.group(1))
    for _, value in parse_qsl(parts.query, keep_blank_values=False):
        candidates.extend(_from_value(value))
    if parts.fragment:
        candidates.extend(_from_value(unquote(parts.fragment)))
    candidates.extend(_from_path(parts.path))
    out = []
    for candidate in candidates:
        target = make_url(candidate, url.source, url.anchor)
        if target is not None and target.host and target.host != url.host:
            out.append(target)
    return out


def _from_value(value: str) -> list[str]:
    value = value.strip()
    if _PROOFPOINT_V2.match(value):
        value = value.replace("-3A", ":").replace("_", "/").replace("-2D", "-").replace("-3D", "=")
    if "%3a" in value[:12].lower():
        value = unquote(value)
    lowered = value[:8].lower()
    if lowered.startswith(("http://", "https://")):
        return [value]
    if lowered.startswith("//"):
        return ["http:" + value]
    if lowered.startswith("www.") and "." in value[4:]:
        return [value]
    match = _BASE64_HTTP.search(value)
    if match:
        decoded = _b64(match.group(0))
        if decoded.startswith(("http://", "https://")):
            return [decoded]
    return []


def _from_path(path: str) -> list[str]:
    if len(path) < 6:
        return []
    match = _EMBEDDED.search(path, 1)
    if match:
        rest = unquote(path[match.start():])
        scheme, _, after = rest.partition(":")
        return [f"{scheme.lower()}://{after.lstrip('/')}"]
    match = _AMP.search(path)
    if match and not _PAGE_NAME.search(match.group(1).split("/", 1)[0]):
        return ["https://" + match.group(1)]
    match = _WWW_SEGMENT.search(path)
    if match:
        return ["http://" + match.group(1) + (match.group(2) or "")]
    return []


def _b64(text: str) -> str:
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""
