"""URLs in a message's text and HTML bodies, with the visible text of each link.

Text: a regular expression, since a mail body is not a document with structure. Japanese text sits
directly against URLs, so whitespace and full-width punctuation (。、「」（）！ ...) end a URL, and a
trailing run of non-ASCII text (`https://x.example/をご覧ください`) is cut off, while a non-ASCII
file name with an ASCII extension (`/js/請求書.zip`) is kept. Quoted-printable leftovers (`=\\n`
soft breaks, `=3D`) are repaired first. HTML: regular expressions for href/src/action/meta refresh.

`message_urls(message)` computes the list once per message and caches it weakly on the message,
so every detector that needs URLs shares one extraction.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
import html as html_lib
from urllib.parse import SplitResult, unquote, urlsplit

from kakuri.model import ParsedMessage
from kakuri.parse.domains import normalise_host

MAX_URLS = 300  # per message; a body with more links than this is a bulk mail, not a lure
MAX_HTML_CHARS = 2_000_000
MAX_TEXT_CHARS = 2_000_000

_STOP = r"\s<>\"'`{}|\\^\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_TEXT_URL = re.compile(rf"(?:(?:https?|ftp)://|www\.)[^{_STOP}]+", re.IGNORECASE)
_TRAILING_PUNCT = ".,;:!?'\")]}*"
_TRAILING_NON_ASCII = re.compile(r"[^\x00-\x7f]+$")
_SOFT_BREAK = re.compile(r"=\r?\n")
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\">\s]+)", re.IGNORECASE)
# Links found inside attachments (detect/attachment_links.py): a reader opens them as well.
ATTACHMENT_LINK_SOURCES = frozenset({"pdf", "qr", "calendar", "html-attachment", "office"})
_LINK_ATTRS = {
    "a": "href", "area": "href", "img": "src", "iframe": "src", "frame": "src", "embed": "src",
    "script": "src", "form": "action", "object": "data", "button": "formaction",
}


@dataclass(frozen=True, slots=True)
class Url:
    url: str  # as written, after clean-up
    scheme: str  # lower case; "" when the text had none ("www.")
    host: str  # lower case, brackets stripped; Unicode kept
    port: int | None
    path: str  # percent-decoded
    userinfo: str  # the part before "@" in the authority, if any
    source: str  # "text", "a", "img", "form", "refresh", ...
    anchor: str = ""  # visible text of an <a>/<area>, whitespace collapsed

    @property
    def is_link(self) -> bool:
        """Something a reader clicks (as opposed to an image or a script the client loads)."""
        return self.source in ("text", "a", "area", "form", "refresh") or self.source in ATTACHMENT_LINK_SOURCES


def normalise_url(url: str) -> str:
    """The key a URL is compared by (feeds, indicators, judged items): scheme and host lower-cased, the
    path kept as written, no trailing slash."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return url.strip()
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


def extract_text_urls(text: str, source: str = "text") -> list[Url]:
    text = text[:MAX_TEXT_CHARS]
    if "://" not in text and "www." not in text.lower():
        return []  # most text has no URL; str search is far cheaper than the regex scan
    if "=\n" in text or "=\r\n" in text:
        text = _SOFT_BREAK.sub("", text)
    out = []
    for match in _TEXT_URL.finditer(text):
        url = _trim(match.group(0)).replace("=3D", "=")
        parsed = make_url(url, source)
        if parsed is not None:
            out.append(parsed)
            if len(out) >= MAX_URLS:
                break
    return out


def _trim(url: str) -> str:
    while url:
        if url[-1] in _TRAILING_PUNCT:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        elif not url[-1].isascii():
            url = _TRAILING_NON_ASCII.sub("", url)
        else:
            break
    return url


def make_url(raw: str, source: str, anchor: str = "") -> Url | None:
    raw = raw.strip().replace("\r", "").replace("\n", "").replace("\t", "")
    if not raw:
        return None
    if raw[:4].lower() == "www.":
        raw = "http://" + raw
    lowered = raw[:11].lower()
    if lowered.startswith(("data:", "javascript:", "vbscript:")):
        scheme = lowered.split(":", 1)[0]
        return Url(raw[:200], scheme, "", None, "", "", source, anchor)
    # Browsers read a backslash as "/" in web URLs: `http://evil.test\@good.test/` opens evil.test.
    raw = raw.replace("\\", "/")
    try:
        parts = urlsplit(raw)
        port = _port(parts)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ftp") or not parts.netloc:
        return None
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    host = normalise_host(parts.hostname or "")
    return Url(raw, scheme, host, port, unquote(parts.path), userinfo, source, anchor)


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:  # "host:99999" or "host:abc": keep the URL, call the port unknown
        return None


_TAG = re.compile(r"<(a|area|img|iframe|frame|embed|script|form|object|button|meta)\b([^<>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([\w:-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""")
_ANCHOR_END = re.compile(r"</a\s*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^<>]*>")  # [^<>]: a stray "<" cannot make the scan quadratic
_BLOCK_START = re.compile(r"<(a|style|script|head|title)\b")  # on lower-cased HTML


def _attributes(text: str) -> dict[str, str]:
    return {k.lower(): html_lib.unescape(v.strip("\"'")) for k, v in _ATTR.findall(text)}


def extract_html_urls(html: str) -> list[Url]:
    """Links with their visible text, embedded resources, form targets and meta refresh, by regex.

    Regular expressions rather than an HTML parser: several times faster, never raises, and mail
    HTML is written by generators whose tags these patterns read the way mail clients do.
    """
    html = html[:MAX_HTML_CHARS]
    urls: list[Url] = []
    for match in _TAG.finditer(html):
        if len(urls) >= MAX_URLS:
            break
        tag, attributes = match.group(1).lower(), _attributes(match.group(2))
        raw, anchor = attributes.get(_LINK_ATTRS.get(tag, ""), ""), ""
        if tag == "meta":
            refresh = _REFRESH_URL.search(attributes.get("content", ""))
            is_refresh = attributes.get("http-equiv", "").lower() == "refresh"
            raw = refresh.group(1) if refresh and is_refresh else ""
        elif tag == "a":
            end = _ANCHOR_END.search(html, match.end(), match.end() + 5000)
            inner = html[match.end():end.start()] if end else ""
            anchor = " ".join(html_lib.unescape(_ANY_TAG.sub("", inner)).split())[:300]
        elif tag == "area":
            anchor = attributes.get("alt", "")[:300]
        url = make_url(raw, tag if tag != "meta" else "refresh", anchor) if raw else None
        if url is not None:
            urls.append(url)
    return urls + extract_text_urls(_loose_text(html))


def _loose_text(html: str) -> str:
    """Visible text outside links (mail clients make URLs in it clickable), in linear time."""
    lower, chunks, pos, unclosed = html.lower(), [], 0, set()
    for match in _BLOCK_START.finditer(lower):
        closer = f"</{match.group(1)}"
        if match.start() < pos or closer in unclosed:
            continue
        end = lower.find(closer, match.end())
        if end < 0:
            unclosed.add(closer)  # no later block of this kind can close either
            continue
        chunks.append(html[pos:match.start()])
        pos = end + len(closer)
    chunks.append(html[pos:])
    return html_lib.unescape(_ANY_TAG.sub(" ", " ".join(chunks)))


def extract_urls(message: ParsedMessage) -> list[Url]:
    """Every URL of the message's bodies, deduplicated by (url, source kind, anchor), capped."""
    found = extract_text_urls(message.text)
    for html in message.html:
        found.extend(extract_html_urls(html))
    seen: set[tuple[str, str, str]] = set()
    out = []
    for url in found:
        key = (url.url, url.source, url.anchor)
        if key not in seen:
            seen.add(key)
            out.append(url)
            if len(out) >= MAX_URLS:
                break
    return out


_CACHE: weakref.WeakKeyDictionary[ParsedMessage, list[Url]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def message_urls(message: ParsedMessage) -> list[Url]:
    """`extract_urls`, computed once per message object (several detectors ask)."""
    with _CACHE_LOCK:
        cached = _CACHE.get(message)
    if cached is None:
        cached = extract_urls(message)
        with _CACHE_LOCK:
            _CACHE[message] = cached
    return cached
