"""Lines over SMTP's 998-octet limit (RFC 5322 2.1.1), made safe before we relay them.

We accept long lines from clients (real mailers send them), but a strict next hop answers 5xx and the
message would bounce. Postfix's answer (`smtp_line_length_limit`) is to break such lines with
CRLF + space; that is right for a header (it becomes a continuation line) and corrupts a body. We fold
headers the same way and re-encode an offending body part instead: quoted-printable for text (readable,
and the decoded content is unchanged), base64 for anything else, re-wrapped for base64 that was written
in over-long lines. Messages within the limit, nearly all of them, are returned as they are: the body is
re-serialised through the email package only when one of its lines is too long.
"""

from __future__ import annotations

import base64
import quopri
from email import message_from_bytes
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from io import BytesIO

from kakuri.act.tagging import split_header

LIMIT = 998  # octets, without CRLF
_POLICY = compat32.clone(linesep="\r\n", max_line_length=0)  # 0: the generator folds nothing itself


def _too_long(data: bytes) -> bool:
    # splitlines is C speed; a regex for "999 non-newline bytes" retries at every offset (10 ms a message).
    return len(data) > LIMIT and max(map(len, data.splitlines())) > LIMIT


def fold_long_lines(raw: bytes) -> bytes:
    """`raw` with every line at most LIMIT octets long; unchanged when it already is."""
    if not _too_long(raw):
        return raw
    fields, rest = split_header(raw)
    head = b"".join(_fold_field(field) for field in fields)
    if _too_long(rest):
        return _reencode_body(head + rest)
    return head + rest


def _fold_field(field: bytes) -> bytes:
    if not _too_long(field):
        return field
    out = []
    for line in field.splitlines():
        while len(line) > LIMIT:
            # Break at the last white space that leaves a non-empty first piece, as folding does; a
            # token longer than the limit is cut where it must be (Postfix does the same).
            cut = max(line.rfind(b" ", 1, LIMIT), line.rfind(b"\t", 1, LIMIT))
            if cut <= 0:
                cut = LIMIT
            out.append(line[:cut])
            line = (b"" if line[cut:cut + 1] in (b" ", b"\t") else b" ") + line[cut:]
        out.append(line)
    return b"\r\n".join(out) + b"\r\n"


def _reencode_body(raw: bytes) -> bytes:
    message = message_from_bytes(raw, policy=compat32)
    for part in message.walk():
        if not part.is_multipart() and _too_long(_payload_bytes(part)):
            _reencode(part)
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_POLICY).flatten(message)
    data = out.getvalue()
    # A preamble, epilogue or header of a nested part can still hold a long line: break what is left.
    return _hard_fold(data) if _too_long(data) else data


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=False)
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")  # octets as sent, or near enough to find long lines
    return payload or b""


def _reencode(part: Message) -> None:
    content = part.get_payload(decode=True) or b""
    if part.get_content_maintype() == "text":
        # quoted-printable wraps at 76 with soft breaks; the generator writes the line ends as CRLF.
        body, encoding = quopri.encodestring(content.replace(b"\r\n", b"\n")), "quoted-printable"
    else:
        body, encoding = base64.encodebytes(content), "base64"
    del part["Content-Transfer-Encoding"]
    part.set_payload(body.decode("ascii"))
    part["Content-Transfer-Encoding"] = encoding


def _hard_fold(data: bytes) -> bytes:
    return b"\r\n".join(_split_line(line) for line in data.split(b"\r\n"))


def _split_line(line: bytes) -> bytes:
    if len(line) <= LIMIT:
        return line
    return b"\r\n ".join(line[i:i + LIMIT - 1] for i in range(0, len(line), LIMIT - 1))
