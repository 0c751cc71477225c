"""The data a script carries: its string literals (joined across `+`), char-code arrays and data: URIs, decoded.

HTML smuggling and obfuscated phishing pages keep their payload or their real page in JavaScript strings:
base64 for `atob`, percent escapes for `unescape`, `\\xNN` walls, `String.fromCharCode(...)` number lists.
A tokenizer written by hand rather than a JavaScript parser: esprima-python is unmaintained, and hostile pages
are routinely megabytes of deliberately malformed script where a full parse is slow or fails, while the only
thing needed here is every quoted string, which a single linear scan finds (it skips comments and regex-free
code; a `/` regex literal holding a quote can shift it, which at worst yields one bogus string).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Iterator
from urllib.parse import unquote_to_bytes

MAX_SCRIPT_CHARS = 8_000_000
MAX_LITERALS = 20_000  # per script: obfuscators split pages into thousands of pieces, not millions
MIN_BLOB_CHARS = 128  # shorter encoded strings are tokens and ids, not files or pages

_LITERAL = re.compile(
    # Possessive runs (*+) and terminators that also accept where an unclosed token ends (end of line for
    # quotes, end of script for comments and templates, a trailing lone backslash): a match never fails after
    # scanning, so hostile scripts of unclosed quotes stay one linear pass.
    r"""//[^\n]*|/\*.*?(?:\*/|\Z)|"((?:\\.|[^"\\\n])*+)(?:"|\\?$)|'((?:\\.|[^'\\\n])*+)(?:'|\\?$)"""
    r"""|`((?:\\.|[^`\\])*+)(?:`|\\?\Z)""",
    re.DOTALL | re.MULTILINE)
_JOIN = re.compile(r"\s*\+\s*")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|u\{[0-9a-fA-F]{1,6}\}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_CHAR_CODES = re.compile(r"(?:\[|fromCharCode\s*\()\s*((?:0x[0-9a-fA-F]{1,4}|\d{1,5})(?:\s*,\s*(?:0x[0-9a-fA-F]{1,4}|\d{1,5})){31,})")
_DATA_URI = re.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+=-]+)*);base64,([A-Za-z0-9+/=\s]{%d,})" % MIN_BLOB_CHARS,
                       re.IGNORECASE)
_BASE64 = re.compile(r"^[A-Za-z0-9+/\s]+={0,2}$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_\-\s]+={0,2}$")
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_HEX_BLOB = re.compile(r"^(?:[0-9a-fA-F]{2}){64,}$")


def string_literals(script: str) -> Iterator[str]:
    """Every quoted string of `script`, unescaped; literals joined by `+` come out as one string."""
    pending: list[str] = []
    last_end = 0
    for count, match in enumerate(_LITERAL.finditer(script[:MAX_SCRIPT_CHARS])):
        if count >= MAX_LITERALS:
            break
        body = next((g for g in match.groups() if g is not None), None)
        if body is None:
            continue  # a comment
        if pending and not _JOIN.fullmatch(script, last_end, match.start()):
            yield "".join(pending)
            pending = []
        pending.append(unescape_literal(body))
        last_end = match.end()
    if pending:
        yield "".join(pending)


def unescape_literal(body: str) -> str:
    if "\\" not in body:
        return body

    def replace(match: re.Match) -> str:
        esc = match.group(1)
        if esc[0] in "xu" and len(esc) > 1:
            try:
                return chr(int(esc[1:].strip("{}"), 16))
            except ValueError:  # beyond Unicode: keep the escape as written
                return match.group(0)
        return _SIMPLE_ESCAPES.get(esc, esc)

    return _ESCAPE.sub(replace, body)


def char_code_arrays(script: str) -> Iterator[bytes]:
    """Arrays and fromCharCode argument lists of 32+ numbers, as bytes (code points above 255 dropped)."""
    for match in _CHAR_CODES.finditer(script[:MAX_SCRIPT_CHARS]):
        numbers = [int(n, 0) for n in re.split(r"\s*,\s*", match.group(1).strip())]
        yield bytes(n for n in numbers if n < 256)


def data_uris(text: str) -> Iterator[tuple[str, bytes]]:
    """(media type, decoded bytes) of every base64 data: URI of `text`."""
    for match in _DATA_URI.finditer(text[:MAX_SCRIPT_CHARS]):
        data = decode_base64(match.group(3))
        if data:
            yield (match.group(1) or "").lower(), data


def decode_blob(value: str) -> tuple[str, bytes] | None:
    """("base64" | "percent" | "hex", bytes) when a long string is an encoded blob, else None."""
    compact = value.strip()
    if len(compact) < MIN_BLOB_CHARS:
        return None
    if _BASE64.match(compact) or _BASE64URL.match(compact):
        data = decode_base64(compact)
        return ("base64", data) if data else None
    if _HEX_BLOB.match(compact):
        return "hex", bytes.fromhex(compact)
    escapes = len(_PERCENT_ESCAPE.findall(compact))
    if escapes >= 16 and escapes * 3 >= len(compact) * 0.15:  # unescape()/decodeURIComponent() fodder
        return "percent", unquote_to_bytes(compact)
    return None


def decode_base64(value: str) -> bytes:
    compact = re.sub(r"\s+", "", value)
    compact = compact.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4))
    except (binascii.Error, ValueError):
        return b""
