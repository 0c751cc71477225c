"""URLs in a message's text and HTML bodies, with the visible text of each link.

Text: a regular expression, since a mail body is not a document with structure. Japanese text sits
directly against URLs, so whitespace and full-width punctuation (。、「」（）！ ...) end a URL, and a
trailing run of non-ASCII text (`https://x.example/をご覧ください`) is cut off, while a non-ASCII
file name with an ASCII extension (`/js/請求書.zip`) is kept. Quoted-printable leftovers (`=\\n`
soft breaks, `=3D`) are repaired first. HTML: `html.parser` for href/src/action and meta refresh.

`message_urls(message)` computes the list once per message and caches it weakly on the message,
so every detector that needs URLs shares one extraction.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from html.parser import HTMLParser
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
        return self.source in ("text", "a", "area", "form", "refresh")


def extract_text_urls(text: str, source: str = "text") -> list[Url]:
    text = text[:MAX_TEXT_CHARS]
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


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[Url] = []
        self.loose_text: list[str] = []  # text outside links: mail clients make URLs in it clickable
        self._anchor: tuple[str, str, list[str]] | None = None  # (tag, href, text chunks)

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "meta" and attributes.get("http-equiv", "").lower() == "refresh":
            match = _REFRESH_URL.search(attributes.get("content", ""))
            if match:
                self._add(match.group(1), "refresh")
            return
        attr = _LINK_ATTRS.get(tag)
        if attr is None or not attributes.get(attr):
            return
        if tag == "a":
            self._close_anchor()
            self._anchor = (tag, attributes[attr], [])
        else:
            self._add(attributes[attr], tag, attributes.get("alt", "") if tag == "area" else "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close_anchor()

    def handle_data(self, data: str) -> None:
        if self._anchor is not None:
            self._anchor[2].append(data)
        else:
            self.loose_text.append(data)

    def close(self) -> None:
        super().close()
        self._close_anchor()

    def _close_anchor(self) -> None:
        if self._anchor is not None:
            tag, href, chunks = self._anchor
            self._anchor = None
            self._add(href, tag, " ".join("".join(chunks).split()))

    def _add(self, raw: str, source: str, anchor: str = "") -> None:
        if len(self.urls) < MAX_URLS:
            url = make_url(raw, source, anchor[:300])
            if url is not None:
                self.urls.append(url)


def extract_html_urls(html: str) -> list[Url]:
    collector = _LinkCollector()
    try:
        collector.feed(html[:MAX_HTML_CHARS])
        collector.close()
    except Exception:  # html.parser asserts on some absurd markup; keep what was collected
        pass
    return collector.urls + extract_text_urls(" ".join(collector.loose_text))


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
