"""aiosmtplib's SMTP client, encoding what the relay sends at C speed.

aiosmtplib prepares every message with two regular expressions (line endings to CRLF, then a dot
doubled at the start of each line) and parses every envelope address with `email.utils.parseaddr`.
On a 50 kB message that was ~1 ms of the gateway's main process per delivery, more than the
transaction itself. `encode_data` does the same transformation with `bytes.replace`, and `mail`/`rcpt`
send a plain `local@domain` address as it is (anything else still goes through aiosmtplib's quoting).
The commands, replies, errors and connection handling stay aiosmtplib's.
"""

from __future__ import annotations

import re

import aiosmtplib
from aiosmtplib.errors import SMTPDataError, SMTPRecipientRefused, SMTPSenderRefused, SMTPServerDisconnected
from aiosmtplib.protocol import SMTPProtocol
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus

from kakuri.receive import replay

_ATOM = rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rb"%s(?:\.%s)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*" % (_ATOM, _ATOM))


def encode_data(message: bytes) -> bytes:
    """The DATA payload aiosmtplib would send: every line ending CRLF (lone CR and LF included), a final
    CRLF, a dot doubled at the start of a line, and the end marker."""
    crlf = message.count(b"\r\n")
    if message.count(b"\n") != crlf or message.count(b"\r") != crlf:  # a lone CR or LF (rare): normalise
        message = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    message = message.replace(b"\r\n.", b"\r\n..")
    if message.startswith(b"."):
        message = b"." + message
    return message + b".\r\n"


def _path(address: str) -> bytes | None:
    """`<address>` when the address needs no quoting (the null sender is `<>`), else None."""
    if not address:
        return b"<>"
    if not address.isascii():
        return None
    raw = address.encode("ascii")
    return b"<" + raw + b">" if _PLAIN_ADDRESS.fullmatch(raw) else None


class _Protocol(SMTPProtocol):
    async def execute_data_command(self, message: bytes, timeout: float | None = None) -> SMTPResponse:
        # As SMTPProtocol.execute_data_command (aiosmtplib 5), with encode_data for the two regexes.
        if self._command_lock is None:
            raise SMTPServerDisconnected("Server not connected")
        payload = encode_data(message)
        async with self._command_lock:
            self._response_pending = True
            self.write(b"DATA\r\n")
            start_response = await self.read_response(timeout=timeout)
            if start_response.code != SMTPStatus.start_input:
                raise SMTPDataError(start_response.code, start_response.message)
            self._response_pending = True
            self.write(payload)
            replay.final_dot_written(self.transport)  # kill -9 from here on: the next hop has it (receive/replay.py)
            response = await self.read_response(timeout=timeout)
            if response.code != SMTPStatus.completed:
                raise SMTPDataError(response.code, response.message)
        return response


class RelayClient(aiosmtplib.SMTP):
    async def connect(self, **kwargs) -> SMTPResponse:
        response = await super().connect(**kwargs)
        # aiosmtplib builds its protocol object itself; ours differs only in how DATA is encoded.
        if type(self.protocol) is SMTPProtocol:
            self.protocol.__class__ = _Protocol
        return response

    async def mail(self, sender: str, /, *, options=None, **kwargs) -> SMTPResponse:
        path = _path(sender)
        if path is None or options or kwargs:
            return await super().mail(sender, options=options, **kwargs)
        await self._ehlo_or_helo_if_needed()
        response = await self.execute_command(b"MAIL", b"FROM:" + path)
        if response.code != SMTPStatus.completed:
            raise SMTPSenderRefused(response.code, response.message, sender)
        return response

    async def rcpt(self, recipient: str, /, *, options=None, **kwargs) -> SMTPResponse:
        path = _path(recipient)
        if path is None or options or kwargs:
            return await super().rcpt(recipient, options=options, **kwargs)
        await self._ehlo_or_helo_if_needed()
        response = await self.execute_command(b"RCPT", b"TO:" + path)
        if response.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            raise SMTPRecipientRefused(response.code, response.message, recipient)
        return response
