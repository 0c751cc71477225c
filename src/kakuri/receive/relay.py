"""Hand-off to the next hop: an SMTP server (aiosmtplib) or the built-in local Maildir.

A transport returns one `Reply` per recipient, and never raises for delivery problems: a refused
connection or a timeout is a temporary failure (code 0 below, treated as 4xx) for every recipient.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosmtplib

from kakuri.act.line_length import fold_long_lines
from kakuri.receive import replay
from kakuri.receive.smtp_client import RelayClient
from kakuri.store.blobs import fsync_dir


@dataclass(frozen=True)
class Reply:
    code: int  # SMTP code; 0 = no answer (connection failed, timeout)
    text: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.code < 300

    @property
    def is_permanent(self) -> bool:
        return 500 <= self.code < 600

    def __str__(self) -> str:
        return f"{self.code} {self.text}" if self.code else self.text


class Transport(Protocol):
    async def deliver(self, *, mail_from: str, rcpt_tos: list[str], data: bytes) -> dict[str, Reply]: ...


class SmtpRelay:
    """SMTP transactions recipient by recipient, so every address gets its own answer.

    Connections are kept open between deliveries (at most `max_idle`, for `idle_seconds`): on a busy
    gateway, connecting and greeting cost more than the transaction. A connection kept for longer than
    `trust_seconds` is checked with NOOP before use; a younger one is used at once (a NOOP per message
    costs the next hop and us a round trip), and if the next hop closed it meanwhile, MAIL fails before
    anything was sent and the transaction starts over on a new connection. Either way a connection the
    next hop has closed never turns into a false deferral.
    """

    trust_seconds = 2.0

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout_seconds: float,
        helo: str | None = None,
        max_idle: int = 8,
        idle_seconds: float = 30.0,
    ) -> None:
        self.host, self.port, self.timeout, self.helo = host, port, timeout_seconds, helo
        self.max_idle, self.idle_seconds = max_idle, idle_seconds
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []
        self._goodbyes: set[asyncio.Future] = set()

    async def deliver(self, *, mail_from: str, rcpt_tos: list[str], data: bytes) -> dict[str, Reply]:
        data = fold_long_lines(data)  # a strict next hop refuses lines over 998 octets that clients sent us
        client = None
        try:
            client, unchecked = await self._connection()
            try:
                await client.mail(mail_from)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException, OSError) as exc:
                if not unchecked or (isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code != 421):
                    raise
                self._discard(client)  # closed by the next hop while kept; nothing was sent
                client = None
                client = await self._connect()
                await client.mail(mail_from)
            replies = await self._transaction(client, rcpt_tos, data)
        except aiosmtplib.SMTPResponseException as exc:  # refused at greeting/EHLO/MAIL/DATA
            self._discard(client)
            return {r: Reply(exc.code, exc.message) for r in rcpt_tos}
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._discard(client)
            reason = f"next hop {self.host}:{self.port}: {type(exc).__name__}: {exc}"[:300]
            return {r: Reply(0, reason) for r in rcpt_tos}
        # The connection goes back to the idle list without waiting for anything, so the caller records
        # the result at once: that narrows the window in which a crash after the next hop's 250 would
        # make us deliver the message again.
        self._keep(client)
        return replies

    async def _connection(self) -> tuple[aiosmtplib.SMTP, bool]:
        """A connection, and whether it is a kept one used without a NOOP check."""
        now = time.monotonic()
        while self._idle:
            since, client = self._idle.pop()
            if now - since > self.idle_seconds or not client.is_connected:
                self._discard(client)
                continue
            if now - since <= self.trust_seconds:
                return client, True
            try:
                await client.noop()
                return client, False
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                self._discard(client)
        return await self._connect(), False

    async def _connect(self) -> aiosmtplib.SMTP:
        client = RelayClient(
            hostname=self.host, port=self.port, timeout=self.timeout, local_hostname=self.helo, start_tls=False
        )
        await client.connect()
        await client.ehlo()
        return client

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.max_idle and client.is_connected:
            self._idle.append((time.monotonic(), client))
        else:
            self._discard(client)

    def _discard(self, client: aiosmtplib.SMTP | None) -> None:
        if client is None:
            return
        if not client.is_connected:
            _close(client)
            return
        task = asyncio.ensure_future(_quit(client))
        self._goodbyes.add(task)
        task.add_done_callback(self._goodbyes.discard)

    async def close(self) -> None:
        while self._idle:
            self._discard(self._idle.pop()[1])
        if self._goodbyes:  # QUIT is a courtesy: never let a silent next hop hold up a shutdown
            await asyncio.wait(list(self._goodbyes), timeout=5)

    async def _transaction(self, client, rcpt_tos, data) -> dict[str, Reply]:
        replies: dict[str, Reply] = {}
        accepted = []
        for rcpt in rcpt_tos:
            try:
                response = await client.rcpt(rcpt)
                replies[rcpt] = Reply(response.code, response.message)
                accepted.append(rcpt)
            except aiosmtplib.SMTPRecipientRefused as exc:
                replies[rcpt] = Reply(exc.code, exc.message)
        if not accepted:
            await client.rset()
            return replies
        replay.data_recipients(accepted)  # whom the final dot delivers to, if we are killed before the answer
        response = await client.data(data)
        for rcpt in accepted:
            replies[rcpt] = Reply(response.code, response.message)
        return replies


async def _quit(client) -> None:
    try:
        await client.quit()
    except (TimeoutError, aiosmtplib.SMTPException, OSError):
        _close(client)


def _close(client) -> None:
    try:
        client.close()
    except Exception:  # closing a broken connection must not hide the delivery result
        pass


class MaildirRelay:
    """The embedded default's next hop: every recipient's copy goes into one Maildir in the data folder.

    Written the Maildir way (tmp/ then rename into new/), with fsync, so a delivered message survives a crash.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")
        self._count = 0

    async def deliver(self, *, mail_from: str, rcpt_tos: list[str], data: bytes) -> dict[str, Reply]:
        try:
            name = await asyncio.to_thread(self._store, mail_from, rcpt_tos, data)
        except OSError as exc:
            return {r: Reply(0, f"maildir {self.root}: {exc}") for r in rcpt_tos}
        return {r: Reply(250, f"2.0.0 stored as {name}") for r in rcpt_tos}

    def _store(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> str:
        self._count += 1
        name = f"{time.time_ns()}.P{os.getpid()}Q{self._count}.{self._host}"
        envelope = f"Return-Path: <{mail_from}>\r\nDelivered-To: {', '.join(rcpt_tos)}\r\n".encode()
        tmp = self.root / "tmp" / name
        with open(tmp, "wb") as handle:
            handle.write(envelope + data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / "new" / name)
        fsync_dir(self.root / "new")
        return name
