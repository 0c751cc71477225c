"""Raw RFC 5322 bytes -> ParsedMessage, using the stdlib `email` package.

The parse uses the compat32 policy and decodes headers with `email.header`: the modern policy's header
registry costs about 60% of the parse time and we only need decoded strings (addresses are read by
`email.utils.getaddresses` on the decoded value).

Whatever is wrong with the input (bad base64, broken boundaries, undeclared 8-bit headers, unknown
charsets) is recorded in `ParsedMessage.defects` and the parse carries on; `parse_message` never raises.
"""

from __future__ import annotations

import base64
import binascii
import email
import quopri
import re
import secrets
import email.policy
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses

from kakuri.model import ParsedMessage, Part
from kakuri.parse.charsets import decode_bytes, repair_surrogates
from kakuri.parse.html import html_to_text

MAX_HEADER_CHARS = 16_384  # longer values are cut for analysis; the raw message keeps them whole
MAX_PARTS = 1_000
_POLICY = email.policy.compat32


def parse_message(raw: bytes) -> ParsedMessage:
    try:
        return _parse(raw)
    except Exception as exc:  # the stdlib parser has corner cases that raise; never let one escape
        return ParsedMessage(raw=raw, headers=[], defects=[f"ParseFailed: {type(exc).__name__}: {exc}"[:300]])


def _parse(raw: bytes) -> ParsedMessage:
    skeleton, blobs = _skeleton(raw)
    msg = email.message_from_bytes(skeleton, policy=_POLICY)
    defects: list[str] = [type(d).__name__ for d in msg.defects]
    headers = _decoded_headers(msg, defects)
    parsed = ParsedMessage(raw=raw, headers=headers, defects=defects)
    _fill_addresses(parsed, msg)

    texts: list[str] = []
    counter = 0
    for node in msg.walk():
        if node is not msg:
            parsed.defects.extend(type(d).__name__ for d in node.defects)
        if node.is_multipart():
            continue
        counter += 1
        if counter > MAX_PARTS:
            parsed.defects.append(f"TooManyParts: more than {MAX_PARTS}")
            break
        _take_leaf(node, parsed, texts, counter, blobs)
    parsed.text = "\n".join(texts)
    parsed.html_text = "\n".join(html_to_text(h) for h in parsed.html)
    return parsed


def _take_leaf(node: Message, parsed: ParsedMessage, texts: list[str], index: int, blobs: dict[str, bytes]) -> None:
    ctype = _safe(lambda: node.get_content_type(), "application/octet-stream")
    filename = part_filename(node, parsed.defects)
    disposition = _safe(lambda: node.get_content_disposition(), None)
    data = _payload_bytes(node, parsed.defects, blobs)
    is_body = filename is None and disposition != "attachment" and ctype in ("text/plain", "text/html")
    if is_body:
        charset = _safe(lambda: node.get_content_charset(), None)
        text, clean = decode_bytes(data, charset)
        if not clean:
            parsed.defects.append(f"CharsetGuessed: declared {charset!r}")
        (parsed.html.append(text) if ctype == "text/html" else texts.append(text))
        return
    if filename is None and ctype.startswith("multipart/"):
        return
    parsed.parts.append(
        Part(
            path=filename or f"part{index}.{ctype.split('/')[-1][:16]}",
            data=data,
            filename=filename,
            content_type=ctype,
            is_attachment=filename is not None or disposition == "attachment",
        )
    )


def part_filename(node: Message, defects: list[str]) -> str | None:
    """The part's file name: RFC 2231 and RFC 2047 (also where mailers misuse it), raw 8-bit bytes."""
    name = _safe(lambda: node.get_filename(), None)
    if name is None:
        # Some mailers put the name only in Content-Type's name=, or in a header we could not parse.
        name = _safe(lambda: node.get_param("name", header="content-type"), None)
        if isinstance(name, tuple):
            name = email.utils.collapse_rfc2231_value(name)
    if not name:
        return None
    name = str(name)
    if "\ufffd" in name:
        name = _raw_8bit_filename(node) or name
    if "=?" in name:
        try:
            name = decode_words(name)
        except Exception:
            defects.append("BadEncodedFilename")
    name = repair_surrogates(name).replace("\x00", "").strip()
    # Keep only the last path component: "..\\..\\evil.exe" is a name trick, not a directory.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return name or None


_RAW_NAME = re.compile(r'(?:file)?name\*?\s*=\s*"?([^";\r\n]+)', re.IGNORECASE)


def _raw_8bit_filename(node: Message) -> str | None:
    """compat32 turns undeclared 8-bit header bytes into U+FFFD; read them from the raw header instead."""
    for key, value in node.raw_items():
        if key.lower() in ("content-disposition", "content-type"):
            match = _RAW_NAME.search(str(value))
            if match:
                return repair_surrogates(match.group(1).strip())
    return None


def _payload_bytes(node: Message, defects: list[str], blobs: dict[str, bytes]) -> bytes:
    if blobs:
        payload = node.get_payload()
        if isinstance(payload, str) and payload.strip() in blobs:
            data = _decode_blob(blobs[payload.strip()], defects)
            if data is not None:
                return data
            # undecodable (stray 8-bit bytes): hand it back as the stdlib would have read it, 8-bit kept
            node.set_payload(blobs[payload.strip()].decode("ascii", "surrogateescape"))
    try:
        data = node.get_payload(decode=True)
    except Exception as exc:
        defects.append(f"PayloadUndecodable: {type(exc).__name__}")
        data = None
    if data is None:
        payload = node.get_payload()
        if isinstance(payload, str):
            data = payload.encode("utf-8", errors="surrogateescape")
        else:
            data = b""
    return data


# Large base64 bodies are cut out before the stdlib parser sees them: its line-by-line feed costs
# ~100 ms per MB, while the structure it needs is only the boundary lines. A base64 body holds no
# boundary line (they start with "--", outside the base64 alphabet), so replacing it with one token
# line leaves the MIME structure exactly as it was. The token carries a per-parse random nonce so a
# message cannot forge one.
SKELETON_MIN_BYTES = 64 * 1024
_BASE64_START = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}\r?\n")
_CTE_BASE64 = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*base64[ \t]*\r?$")


def _skeleton(raw: bytes) -> tuple[bytes, dict[str, bytes]]:
    if len(raw) < SKELETON_MIN_BYTES:
        return raw, {}
    nonce = secrets.token_hex(8)
    blobs: dict[str, bytes] = {}
    out: list[bytes] = []
    copied = 0
    start = 0
    while start < len(raw):
        end = raw.find(b"\n--", start)
        end = len(raw) if end < 0 else end + 1
        if end - start >= SKELETON_MIN_BYTES:
            body = _base64_body_start(raw, start, end)
            if body is not None:
                token = f"KAKURI-{nonce}-{len(blobs)}"
                blobs[token] = raw[body:end]
                out += [raw[copied:body], token.encode() + b"\r\n"]
                copied = end
        start = end + 2
    if not blobs:
        return raw, {}
    out.append(raw[copied:])
    return b"".join(out), blobs


def _base64_body_start(raw: bytes, start: int, end: int) -> int | None:
    """Where a base64 body begins inside raw[start:end], if that span is one part's headers + base64 body."""
    window = raw[start : min(end, start + 16384)]
    blank = re.search(rb"\r?\n\r?\n", window)
    if blank is None or not _CTE_BASE64.search(window[: blank.start() + 1]):
        return None
    body = start + blank.end()
    return body if _BASE64_START.match(raw, body) else None


def _decode_blob(blob: bytes, defects: list[str]) -> bytes | None:
    try:
        return binascii.a2b_base64(blob)
    except binascii.Error:
        return None  # let the stdlib's lenient decoder (and its defect records) handle it


def _decoded_headers(msg: Message, defects: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, raw_value in msg.raw_items():
        value = _decode_header_value(name, raw_value, defects)
        if len(value) > MAX_HEADER_CHARS:
            defects.append(f"HeaderTooLong: {name}")
            value = value[:MAX_HEADER_CHARS]
        out.append((name, value))
    return out


def _decode_header_value(name: str, raw_value, defects: list[str]) -> str:
    raw_value = str(raw_value)
    if "=?" not in raw_value:
        value = raw_value
    else:
        try:
            value = decode_words(raw_value)
        except Exception:
            defects.append(f"HeaderUnparseable: {name}")
            value = raw_value
    return repair_surrogates(value).replace("\r", "").replace("\n", " ").replace("\t", " ")


def decode_words(value: str) -> str:
    """RFC 2047 words, each decoded with the Japanese-aware charset table."""
    try:
        words = decode_header(value)
    except (HeaderParseError, ValueError, LookupError):
        # One broken word (bad base64 padding, an odd charset) makes the stdlib give up on the whole value;
        # mail clients still show the rest decoded, so read what can be read.
        return _LOOSE_WORD.sub(_decode_loose_word, value)
    chunks = []
    for data, charset in words:
        if isinstance(data, str):
            chunks.append(data)
        else:
            chunks.append(decode_bytes(data, charset)[0])
    decoded = "".join(chunks)
    return _LOOSE_WORD.sub(_decode_loose_word, decoded) if "=?" in decoded else decoded


# Mailers (and attackers) emit encoded words without the closing "?=" or with spaces inside; mail
# clients still show them decoded, so a filter must read them the same way.
_LOOSE_WORD = re.compile(r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)(?:\?=)?")


def _decode_loose_word(match: re.Match) -> str:
    charset, encoding, text = match.groups()
    try:
        if encoding in "Bb":
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
        else:
            data = quopri.decodestring(text.replace("_", " ").encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return decode_bytes(data, charset)[0]


def _fill_addresses(parsed: ParsedMessage, msg: Message) -> None:
    parsed.subject = (parsed.header("Subject") or "").strip()
    senders = _mailboxes(msg, "From")
    parsed.from_name, parsed.from_addr = senders[0] if senders else ("", "")
    parsed.reply_to = [a for _, a in _mailboxes(msg, "Reply-To")]
    parsed.to = _mailboxes(msg, "To")
    parsed.cc = _mailboxes(msg, "Cc")
    parsed.message_id = _first_msgid(parsed.header("Message-ID") or "")
    parsed.in_reply_to = _first_msgid(parsed.header("In-Reply-To") or "")
    parsed.references = _all_msgids(parsed.header("References") or "")
    parsed.date = (parsed.header("Date") or "").strip()


def _mailboxes(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs read from the raw header, decoding names afterwards.

    Splitting after RFC 2047 decoding would let an encoded display name such as
    "=?UTF-8?B?...?=" = 'Partner <partner@real.example>' pose as the address: Emotet does exactly that.
    """
    raw_values = [str(value) for key, value in msg.raw_items() if key.lower() == name.lower()]
    out = []
    for display, addr in getaddresses(raw_values):
        if not addr:
            continue
        display = decode_words(display) if "=?" in display else display
        out.append((repair_surrogates(display).strip(), repair_surrogates(addr).strip().lower()))
    return out


def _all_msgids(value: str) -> list[str]:
    ids = []
    for chunk in value.replace(",", " ").split():
        chunk = chunk.strip()
        if chunk.startswith("<") and chunk.endswith(">") and len(chunk) > 2:
            ids.append(chunk[1:-1].strip())
    return ids


def _first_msgid(value: str) -> str:
    ids = _all_msgids(value)
    return ids[0] if ids else value.strip().strip("<>")


def _safe(fn, default):
    try:
        return fn()
    except Exception:
        return default
