"""The milter wire protocol (version 6, as Postfix speaks it): framing, commands in, responses out.

Every packet is a 4-byte big-endian length, a one-letter command and its data; strings are
NUL-terminated. We decode only what a content filter needs (connect, helo, envelope, header, body,
macros) and encode the replies we send. The names follow libmilter's `mfdef.h`, so the code can be
read beside Sendmail's and Postfix's sources (`milter8.c`).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

VERSION = 6
MAX_PACKET_BYTES = 1 << 20  # Postfix sends body chunks of at most 64 KiB; anything near 1 MiB is not a milter

# Commands (MTA -> filter)
SMFIC_ABORT = b"A"
SMFIC_BODY = b"B"
SMFIC_CONNECT = b"C"
SMFIC_MACRO = b"D"
SMFIC_BODYEOB = b"E"
SMFIC_HELO = b"H"
SMFIC_QUIT_NC = b"K"  # quit this SMTP connection, keep the milter connection for the next one
SMFIC_HEADER = b"L"
SMFIC_MAIL = b"M"
SMFIC_EOH = b"N"
SMFIC_OPTNEG = b"O"
SMFIC_QUIT = b"Q"
SMFIC_RCPT = b"R"
SMFIC_DATA = b"T"
SMFIC_UNKNOWN = b"U"

# Responses (filter -> MTA)
SMFIR_ADDHEADER = b"h"
SMFIR_CHGHEADER = b"m"
SMFIR_ACCEPT = b"a"
SMFIR_CONTINUE = b"c"
SMFIR_DISCARD = b"d"
SMFIR_REPLYCODE = b"y"

# Actions we may take at end of message
SMFIF_ADDHDRS = 0x01
SMFIF_CHGHDRS = 0x10
ACTIONS = SMFIF_ADDHDRS | SMFIF_CHGHDRS

# Protocol steps: events we do not need, and events we never answer (one round trip fewer each)
SMFIP_NOUNKNOWN = 0x100
SMFIP_NODATA = 0x200
SMFIP_NR_CONN = 0x1000
SMFIP_NR_HELO = 0x2000
SMFIP_NR_MAIL = 0x4000
SMFIP_NR_RCPT = 0x8000
SMFIP_NR_DATA = 0x10000
SMFIP_NR_UNKN = 0x20000
SMFIP_NR_EOH = 0x40000
SMFIP_NR_BODY = 0x80000
SMFIP_NR_HDR = 0x80
SMFIP_HDR_LEADSPC = 0x100000  # header values keep their leading space, so we rebuild the header exactly
WANTED_PROTOCOL = (
    SMFIP_NOUNKNOWN
    | SMFIP_NODATA
    | SMFIP_NR_CONN
    | SMFIP_NR_HELO
    | SMFIP_NR_MAIL
    | SMFIP_NR_RCPT
    | SMFIP_NR_DATA
    | SMFIP_NR_UNKN
    | SMFIP_NR_EOH
    | SMFIP_NR_BODY
    | SMFIP_NR_HDR
    | SMFIP_HDR_LEADSPC
)
# Which events expect an answer unless the matching no-reply bit was agreed.
NO_REPLY_BIT = {
    SMFIC_CONNECT: SMFIP_NR_CONN,
    SMFIC_HELO: SMFIP_NR_HELO,
    SMFIC_MAIL: SMFIP_NR_MAIL,
    SMFIC_RCPT: SMFIP_NR_RCPT,
    SMFIC_DATA: SMFIP_NR_DATA,
    SMFIC_UNKNOWN: SMFIP_NR_UNKN,
    SMFIC_HEADER: SMFIP_NR_HDR,
    SMFIC_EOH: SMFIP_NR_EOH,
    SMFIC_BODY: SMFIP_NR_BODY,
}


class ProtocolError(Exception):
    """The MTA sent something we cannot follow; the connection is closed (Postfix applies its default action)."""


@dataclass(frozen=True)
class Packet:
    command: bytes
    data: bytes


async def read_packet(reader: asyncio.StreamReader) -> Packet | None:
    """The next packet, or None at a clean end of stream."""
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("stream ended inside a length field") from None
        return None
    (length,) = struct.unpack(">I", head)
    if not 1 <= length <= MAX_PACKET_BYTES:
        raise ProtocolError(f"bad packet length {length}")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ProtocolError("stream ended inside a packet") from None
    return Packet(body[:1], body[1:])


def encode(command: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data) + 1) + command + data


def strings(data: bytes) -> list[bytes]:
    """NUL-terminated strings of a packet (a missing final NUL is tolerated)."""
    if data.endswith(b"\0"):
        data = data[:-1]
    return data.split(b"\0") if data else []


def text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


# -- decoding -------------------------------------------------------------------------------------
def decode_optneg(data: bytes) -> tuple[int, int, int]:
    if len(data) < 12:
        raise ProtocolError("short option negotiation")
    return struct.unpack(">III", data[:12])


def negotiate(data: bytes) -> tuple[bytes, int]:
    """Our OPTNEG reply and the protocol bits both sides agreed on."""
    version, actions, protocol = decode_optneg(data)
    if version < 2:
        raise ProtocolError(f"milter protocol version {version} is too old")
    if actions & ACTIONS != ACTIONS:
        raise ProtocolError("the MTA does not allow adding and changing headers")
    agreed = protocol & WANTED_PROTOCOL
    return encode(SMFIC_OPTNEG, struct.pack(">III", min(version, VERSION), ACTIONS, agreed)), agreed


def decode_connect(data: bytes) -> tuple[str, str | None]:
    """(client hostname, client address or None for a local/unknown socket)."""
    host, _, rest = data.partition(b"\0")
    family = rest[:1]
    if family in (b"4", b"6") and len(rest) >= 3:
        address = text(rest[3:].rstrip(b"\0"))
        if family == b"6" and address.lower().startswith("ipv6:"):
            address = address[5:]
        return text(host), address
    return text(host), None


def decode_macros(data: bytes) -> dict[str, str]:
    values = strings(data[1:])
    return {text(values[i]).strip("{}"): text(values[i + 1]) for i in range(0, len(values) - 1, 2)}


def decode_address(data: bytes) -> str:
    """First argument of MAIL/RCPT, without the angle brackets (ESMTP parameters are dropped)."""
    args = strings(data)
    return text(args[0]).strip().removeprefix("<").removesuffix(">") if args else ""


def decode_header(data: bytes) -> tuple[bytes, bytes]:
    name, _, rest = data.partition(b"\0")
    return name, rest[:-1] if rest.endswith(b"\0") else rest


# -- encoding -------------------------------------------------------------------------------------
def reply_code(reply: str) -> bytes:
    """SMFIR_REPLYCODE with a full SMTP reply such as "550 5.7.1 Message rejected ..."."""
    clean = reply.encode("ascii", "replace").replace(b"\r", b" ").replace(b"\n", b" ").replace(b"\0", b" ")
    return encode(SMFIR_REPLYCODE, clean[:900] + b"\0")


def add_header(name: str, value: bytes) -> bytes:
    """Append a header; `value` carries its leading space when SMFIP_HDR_LEADSPC was agreed."""
    return encode(SMFIR_ADDHEADER, name.encode("ascii") + b"\0" + value + b"\0")


def change_header(name: bytes, index: int, value: bytes) -> bytes:
    """Replace the `index`-th (1-based) header called `name`; an empty value deletes it."""
    return encode(SMFIR_CHGHEADER, struct.pack(">I", index) + name + b"\0" + value + b"\0")


def header_text(value: str) -> bytes:
    """A value we write: ASCII, one line, no NUL, short (evidence never goes into headers)."""
    return value.encode("ascii", "replace").replace(b"\r", b" ").replace(b"\n", b" ").replace(b"\0", b" ")[:900]
