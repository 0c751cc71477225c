"""Delivery into a mail store over LMTP (RFC 2033), e.g. Dovecot's `lmtp` service: `next_hop = "lmtp:HOST:PORT"`.

With LMTP the gateway hands mail straight to the mailboxes, without an MTA between them. After DATA an
LMTP server answers once per recipient; the standard library's client reads one answer, so each
recipient gets its own transaction (the store keeps one copy per mailbox either way). The blocking
client runs in a thread; a refused connection or a timeout is a temporary failure (code 0), as for SMTP.
"""

from __future__ import annotations

import asyncio
import smtplib

from kakuri.receive.relay import Reply


class LmtpRelay:
    def __init__(self, host: str, port: int, *, timeout_seconds: float, lhlo: str | None = None) -> None:
        self.host, self.port, self.timeout, self.lhlo = host, port, timeout_seconds, lhlo

    async def deliver(self, *, mail_from: str, rcpt_tos: list[str], data: bytes) -> dict[str, Reply]:
        return await asyncio.to_thread(self._deliver, mail_from, rcpt_tos, data)

    def _deliver(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> dict[str, Reply]:
        try:
            client = smtplib.LMTP(self.host, self.port, local_hostname=self.lhlo, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            return {r: Reply(0, f"lmtp {self.host}:{self.port}: {exc}") for r in rcpt_tos}
        replies: dict[str, Reply] = {}
        try:
            for rcpt in rcpt_tos:
                replies[rcpt] = self._one(client, mail_from, rcpt, data)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            for rcpt in rcpt_tos:
                replies.setdefault(rcpt, Reply(0, f"lmtp {self.host}:{self.port}: {exc}"))
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return replies

    @staticmethod
    def _one(client: smtplib.LMTP, mail_from: str, rcpt: str, data: bytes) -> Reply:
        code, text = client.mail(mail_from)
        if code == 250:
            code, text = client.rcpt(rcpt)
            if code in (250, 251):
                code, text = client.data(data)
        if code != 250:
            client.rset()
        return Reply(code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))
