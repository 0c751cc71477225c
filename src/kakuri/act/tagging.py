"""Headers we add to delivered mail (X-Kakuri-*, Received) and the subject tag for `tag` verdicts.

We edit the header block as bytes and never re-serialise the message: re-encoding through the email
package would change bodies, break DKIM signatures and normalise the malformed mail that detectors
and analysts need to see as sent. X-Kakuri-* headers that arrive from outside are removed, so a
sender cannot pre-label their own mail as clean for the mail systems behind us.
"""

from __future__ import annotations

import re
from email.utils import formatdate

OUR_PREFIX = b"x-kakuri-"
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_SUBJECT = re.compile(rb"^subject:[ \t]*", re.IGNORECASE)


def split_header(raw: bytes) -> tuple[list[bytes], bytes]:
    """Header fields (each with its folded continuation lines, line endings kept) and the rest."""
    match = _HEADER_END.search(raw)
    if match:
        # The header keeps its last line ending; the blank line and the body are the rest.
        cut = raw.index(b"\n", match.start()) + 1
        head, rest = raw[:cut], raw[cut:]
    else:
        head, rest = raw, b""
        if head and not head.endswith(b"\n"):
            head += b"\r\n"
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields, rest


def _clean(value: str) -> bytes:
    # Header values we write are ASCII, single-line and short; evidence never goes here.
    return value.encode("ascii", "replace").replace(b"\r", b" ").replace(b"\n", b" ")[:900]


def received_header(*, helo: str | None, client_ip: str | None, hostname: str, queue_id: str) -> bytes:
    return (
        b"Received: from " + _clean(helo or "unknown") + b" ([" + _clean(client_ip or "unknown") + b"])\r\n"
        b"\tby " + _clean(hostname) + b" (kakuri) with ESMTP id " + _clean(queue_id) + b";\r\n"
        b"\t" + formatdate(localtime=False).encode() + b"\r\n"
    )


def tag_message(
    raw: bytes,
    *,
    action: str,
    score: float,
    symbols: list[str],
    queue_id: str,
    subject_tag: str = "",
    received: bytes = b"",
) -> bytes:
    """The bytes to deliver: our Received and X-Kakuri-* headers first, outside X-Kakuri-* dropped,
    and for `tag` the subject prefixed with `subject_tag` (once, even when the message is re-delivered)."""
    fields, rest = split_header(raw)
    fields = [f for f in fields if not f.lower().startswith(OUR_PREFIX)]
    if action == "tag" and subject_tag:
        fields = _tag_subject(fields, subject_tag.encode("utf-8"))
    ours = [
        b"X-Kakuri-Verdict: " + _clean(f"{action}; score={score:.2f}; id={queue_id}") + b"\r\n",
    ]
    if symbols:
        ours.append(b"X-Kakuri-Symbols: " + _clean(", ".join(symbols)) + b"\r\n")
    return received + b"".join(ours) + b"".join(fields) + rest


def _tag_subject(fields: list[bytes], tag: bytes) -> list[bytes]:
    for i, field in enumerate(fields):
        match = _SUBJECT.match(field)
        if match:
            value = field[match.end() :]
            if not value.startswith(tag):
                fields[i] = b"Subject: " + tag + b" " + value
            return fields
    ending = b"\r\n" if fields and fields[-1].endswith(b"\r\n") else b"\n"
    return fields + [b"Subject: " + tag + ending]
