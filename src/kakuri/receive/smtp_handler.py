"""aiosmtpd handler: RCPT checks, then DATA -> scan (bounded wait) -> spool -> reply.

Design choice (reject at SMTP time): the message is scanned *before* the final DATA reply, waiting
at most `scan_inline_timeout_seconds`. A `reject` verdict gets 550 and nothing is spooled (the
sender's MTA owns the bounce, we record the attempt for trace). Any other verdict is written to
the spool with the verdict and then answered 250. When the scan takes longer, we spool without a
verdict and answer 250; the runner awaits the same scan (it is not repeated), and a late `reject`
becomes a quarantine, because after 250 refusing is no longer possible. A crash before the spool
write means no 250 was sent: the client still owns the message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from kakuri.model.envelope import Envelope
from kakuri.receive import replies
from kakuri.receive.delivery import DeliveryQueue
from kakuri.receive.direction import DirectionRules
from kakuri.receive.scanning import ScanOutcome, ScanPool
from kakuri.receive.spool import Spool, SpoolEntry, new_queue_id
from kakuri.store import mailflow
from kakuri.store.config import Stores
from kakuri.store.messages import MessageState

log = logging.getLogger(__name__)


class GatewayHandler:
    def __init__(
        self,
        *,
        spool: Spool,
        queue: DeliveryQueue,
        scans: ScanPool,
        stores: Stores,
        rules: DirectionRules,
        max_recipients: int,
        relay_check: bool,
        scan_timeout_seconds: float,
    ) -> None:
        self.spool, self.queue, self.scans, self.stores, self.rules = spool, queue, scans, stores, rules
        self.max_recipients = max_recipients
        self.relay_check = relay_check
        self.scan_timeout = scan_timeout_seconds

    async def handle_MAIL(self, server, session, envelope, address: str, mail_options: list[str]) -> str:
        overload = self.spool.overload()
        if overload:
            return replies.SPOOL_FULL if overload == "full" else replies.SPOOL_BEHIND
        # "<>" is aiosmtpd's spelling of the null sender (bounces); it must stay non-empty for aiosmtpd.
        if address != "<>" and not _is_address(address):
            return replies.BAD_SENDER
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return replies.OK

    async def handle_EHLO(self, server, session, envelope, hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.rules.is_trusted_client(_client_ip(session)):
            # Postfix in content-filter mode then tells us the original client, HELO and login.
            responses.insert(-1, "250-XFORWARD NAME ADDR PROTO HELO SOURCE LOGIN")
        return responses

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options: list[str]) -> str:
        if not _is_address(address):
            return replies.BAD_ADDRESS
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return replies.TOO_MANY_RCPTS
        if self.relay_check and not self.rules.may_relay(
            address, client_ip=_client_ip(session, envelope), auth_user=_auth_user(session, envelope)
        ):
            return replies.RELAY_DENIED
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return replies.RCPT_OK

    async def handle_DATA(self, server, session, envelope) -> str:
        overload = self.spool.overload()
        if overload:
            return replies.SPOOL_FULL if overload == "full" else replies.SPOOL_BEHIND
        raw = envelope.original_content if envelope.original_content is not None else envelope.content
        client_ip, auth_user = _client_ip(session, envelope), _auth_user(session, envelope)
        mail_from = "" if envelope.mail_from == "<>" else envelope.mail_from
        direction, per_rcpt = self.rules.classify(
            mail_from=mail_from, rcpt_tos=envelope.rcpt_tos, client_ip=client_ip, auth_user=auth_user
        )
        env = Envelope(
            mail_from=mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            client_ip=client_ip,
            helo=_forwarded(envelope).get("HELO") or session.host_name or None,
            direction=direction,
            auth_user=auth_user,
        )
        resends = self.queue.resends
        first = resends.first_id(env, raw) if resends is not None else None
        if first is not None:  # spooled before a kill that came before our 250 (receive/replay.py)
            log.info("%s sent again after a restart: already queued, answering 250 without a second copy", first)
            return replies.QUEUED.format(queue_id=first)
        queue_id = new_queue_id()
        scan = asyncio.ensure_future(self.scans.scan(raw, env))
        outcome = await self._wait(scan, queue_id)
        if outcome is not None and outcome.verdict["action"] == "reject":
            await self._record_rejected(queue_id, env, per_rcpt, raw, outcome)
            return replies.rejected(outcome.verdict.get("reasons", []))
        verdict = {**outcome.verdict, "headers": outcome.headers} if outcome is not None else None
        entry = SpoolEntry(
            queue_id=queue_id,
            envelope=env,
            raw=raw,
            received_at=time.time(),
            rcpt_directions={r: d.value for r, d in per_rcpt.items()},
            verdict=verdict,
        )
        try:
            await asyncio.to_thread(self.spool.write, entry)
        except OSError:
            log.exception("cannot write spool entry %s", queue_id)
            scan.cancel()
            return replies.LOCAL_ERROR
        if outcome is None and not scan.done():
            self.queue.inflight_scans[queue_id] = scan
        self.queue.submit_new(entry)
        return replies.QUEUED.format(queue_id=queue_id)

    async def _wait(self, scan: asyncio.Future, queue_id: str) -> ScanOutcome | None:
        try:
            return await asyncio.wait_for(asyncio.shield(scan), self.scan_timeout)
        except TimeoutError:
            log.info("%s: scan slower than %ss, accepting first", queue_id, self.scan_timeout)
        except Exception:  # the runner scans again from the spool (and quarantines a poison message)
            log.exception("%s: inline scan failed", queue_id)
        return None

    async def _record_rejected(self, queue_id, env: Envelope, per_rcpt, raw: bytes, outcome: ScanOutcome) -> None:
        blob = await asyncio.to_thread(self.stores.blobs.put, raw)
        await self.queue.writer.run(
            lambda session: mailflow.record_accepted(
                session,
                **outcome.record_fields(
                    queue_id=queue_id,
                    envelope=env,
                    rcpt_directions={r: d.value for r, d in per_rcpt.items()},
                    raw=raw,
                    received_at=datetime.now(UTC),
                    origin="smtp",
                    blob=blob,
                ),
                state=MessageState.REJECTED,
                commit=False,
                known_new=True,  # a queue id we have just made
            )
        )


def _forwarded(envelope) -> dict[str, str]:
    """XFORWARD attributes the MTA in front of us sent for this transaction (see server._SMTP)."""
    return getattr(envelope, "xforward", None) or {}


def _client_ip(session, envelope=None) -> str | None:
    forwarded = _forwarded(envelope).get("ADDR")
    if forwarded:
        return forwarded.removeprefix("IPV6:")
    peer = session.peer
    return peer[0] if isinstance(peer, tuple) and peer else None


def _auth_user(session, envelope=None) -> str | None:
    forwarded = _forwarded(envelope).get("LOGIN")
    if forwarded:
        return forwarded
    if not session.authenticated or session.auth_data is None:
        return None
    login = getattr(session.auth_data, "login", None)
    return login.decode("utf-8", "replace") if isinstance(login, bytes) else (login or None)


def _is_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and not any(c in address for c in " <>\r\n\t,")
