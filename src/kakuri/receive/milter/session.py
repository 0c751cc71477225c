"""One milter connection: collect what Postfix tells us about the SMTP session, then ask for a decision.

Postfix keeps a milter connection per SMTP connection and may reuse it (SMFIC_QUIT_NC). We only
collect during the transaction (every event is answered "continue", or not at all when the
no-reply bits were agreed) and decide once, at end of message, because the scan needs the whole
message. `Decide` is the server's callback; it returns the packets to send (edits, then the
final answer).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from kakuri.receive.milter import protocol as p

log = logging.getLogger(__name__)


@dataclass
class Client:
    """The SMTP client as Postfix saw it; lives for one SMTP connection."""

    hostname: str = ""
    address: str | None = None
    helo: str = ""
    macros: dict[str, str] = field(default_factory=dict)


@dataclass
class Transaction:
    """One message: envelope, header fields as sent, and body, rebuilt as the bytes Postfix will queue."""

    max_bytes: int
    mail_from: str = ""
    rcpt_tos: list[str] = field(default_factory=list)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # (name, value with leading space)
    body: bytearray = field(default_factory=bytearray)
    size: int = 0

    @property
    def too_big(self) -> bool:
        return self.size > self.max_bytes

    def add_header(self, name: bytes, value: bytes) -> None:
        self.size += len(name) + len(value) + 3
        if not self.too_big:
            self.headers.append((name, value))

    def add_body(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if not self.too_big:
            self.body += chunk

    def raw(self) -> bytes:
        # Postfix sends folded header lines joined by a bare LF; the body comes in CRLF already.
        lines = [name + b":" + value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n" for name, value in self.headers]
        return b"".join(lines) + b"\r\n" + bytes(self.body)


Decide = Callable[[Client, Transaction, int], Awaitable[list[bytes]]]


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, decide: Decide, max_bytes: int
) -> None:
    """Speak the milter protocol on one connection until Postfix quits or the stream breaks."""
    agreed = 0
    client = Client()
    txn = Transaction(max_bytes)
    try:
        while (packet := await p.read_packet(reader)) is not None:
            command, data = packet.command, packet.data
            if command == p.SMFIC_OPTNEG:
                reply, agreed = p.negotiate(data)
                writer.write(reply)
            elif command == p.SMFIC_MACRO:
                client.macros.update(p.decode_macros(data))
            elif command == p.SMFIC_CONNECT:
                client = Client(macros=client.macros)
                client.hostname, client.address = p.decode_connect(data)
            elif command == p.SMFIC_HELO:
                client.helo = p.text(data.rstrip(b"\0"))
            elif command == p.SMFIC_MAIL:
                txn = Transaction(max_bytes, mail_from=p.decode_address(data))
            elif command == p.SMFIC_RCPT:
                txn.rcpt_tos.append(p.decode_address(data))
            elif command == p.SMFIC_HEADER:
                name, value = p.decode_header(data)
                txn.add_header(name, value if agreed & p.SMFIP_HDR_LEADSPC else b" " + value)
            elif command == p.SMFIC_BODY:
                txn.add_body(data)
            elif command == p.SMFIC_BODYEOB:
                txn.add_body(data)
                writer.writelines(await decide(client, txn, agreed))
                txn = Transaction(max_bytes)
            elif command == p.SMFIC_ABORT:
                txn = Transaction(max_bytes)
            elif command == p.SMFIC_QUIT:
                break
            elif command == p.SMFIC_QUIT_NC:
                client, txn = Client(), Transaction(max_bytes)
            elif command not in (p.SMFIC_EOH, p.SMFIC_DATA, p.SMFIC_UNKNOWN):
                raise p.ProtocolError(f"unknown command {command!r}")
            if command in p.NO_REPLY_BIT and not agreed & p.NO_REPLY_BIT[command]:
                writer.write(p.encode(p.SMFIR_CONTINUE))
            await writer.drain()
    except p.ProtocolError as exc:
        log.warning("milter connection from %s: %s", writer.get_extra_info("peername"), exc)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except Exception:  # a bug of ours: Postfix sees the connection close and applies milter_default_action
        log.exception("milter connection from %s failed", writer.get_extra_info("peername"))
    finally:
        writer.close()
