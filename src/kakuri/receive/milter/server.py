"""The milter listener: Postfix asks during DATA, we scan and answer before Postfix replies to the client.

Verdict -> milter answer (the same policy, emergency overrides and scan pool as the SMTP gateway):
- deliver / tag: accept, with X-Kakuri-Verdict / X-Kakuri-Symbols added, X-Kakuri-* from outside
  removed and, for tag, the subject tagged. The record (message row + "handed to Postfix") is committed
  *before* the answer, so a kill -9 right after it cannot leave accepted mail missing from the trace
  or stuck as queued; if it cannot be written we answer 451 and the client's MTA retries.
- quarantine / hold: the raw message goes into our blob store and a record in state quarantined /
  held (both durable) *before* we answer "discard"; if storing fails we answer 451, so the client's
  MTA keeps the message and retries. Released mail goes out through the gateway's spool to the
  Postfix re-injection listener, which has no milter.
- reject: 550 with the policy's reasons (the sending MTA owns the bounce); recorded for trace.
- scan error or timeout: 451, the sender retries. If kakuri is not running at all, Postfix applies
  `milter_default_action` (we document tempfail: nothing is accepted unscanned).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from kakuri.model.envelope import Envelope
from kakuri.receive import replies
from kakuri.receive.config import parse_host_port
from kakuri.receive.direction import DirectionRules
from kakuri.receive.milter import protocol as p
from kakuri.receive.milter.session import Client, Transaction, serve_connection
from kakuri.receive.scanning import ScanOutcome, ScanPool
from kakuri.receive.spool import new_queue_id
from kakuri.store import mailflow
from kakuri.store.config import Stores
from kakuri.store.messages import Message, MessageState, RecipientStatus

log = logging.getLogger(__name__)

KEEP = ("quarantine", "hold")
EARLIER_RECORDS = 1000  # at start: the newest records of the run before, the only ones a kill can have left unanswered
OUR_PREFIX = b"x-kakuri-"
ORIGIN = "milter"


class MilterConfig(BaseModel):
    """`[milter]` in kakuri.toml."""

    model_config = ConfigDict(extra="forbid")
    listen: str = "127.0.0.1:8899"  # Postfix: smtpd_milters = inet:127.0.0.1:8899
    scan_timeout_seconds: float = 60.0  # keep below Postfix's milter_content_timeout (300s); then 451


class MilterServer:
    def __init__(
        self,
        *,
        stores: Stores,
        scans: ScanPool,
        rules: DirectionRules,
        config: MilterConfig,
        max_message_bytes: int,
        subject_tag: str,
    ) -> None:
        self.stores, self.scans, self.rules, self.config = stores, scans, rules, config
        self.max_message_bytes, self.subject_tag = max_message_bytes, subject_tag
        self._server: asyncio.base_events.Server | None = None
        self._earlier: dict[str, str] = {}  # identity -> queue id of the previous run's newest records
        self.retention = None  # store.retention.Retention (the gateway's): copies of accepted mail for the retro-scan

    @property
    def address(self) -> tuple[str, int]:
        return self._server.sockets[0].getsockname()[:2]

    async def start(self) -> None:
        host, port = parse_host_port(self.config.listen, default_port=8899)
        self._earlier = await asyncio.to_thread(self._load_earlier)
        self._server = await asyncio.start_server(self._connection, host=host, port=port)
        log.info("kakuri milter listening on %s:%s", *self.address)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, decide=self.decide, max_bytes=self.max_message_bytes)

    async def decide(self, client: Client, txn: Transaction, agreed: int) -> list[bytes]:
        """The packets that end this message: header edits, then the final answer."""
        if txn.too_big:
            return [p.reply_code(replies.TOO_BIG)]
        raw = txn.raw()
        envelope, per_rcpt = self._envelope(client, txn)
        queue_id = new_queue_id()
        try:
            outcome = await asyncio.wait_for(self.scans.scan(raw, envelope), self.config.scan_timeout_seconds)
        except asyncio.TimeoutError:
            log.warning("milter %s: scan took longer than %ss; 451", queue_id, self.config.scan_timeout_seconds)
            return [p.reply_code(replies.SCAN_TEMPFAIL)]
        except Exception as exc:
            log.exception("milter %s: scan failed; 451", queue_id)
            if isinstance(exc, BrokenProcessPool):
                self.scans.restart()
            return [p.reply_code(replies.SCAN_TEMPFAIL)]
        action = outcome.verdict["action"]
        # The same transaction again, recorded by the run before ours: that run was killed after the record
        # and before its answer (Postfix then tempfailed and the client retried), so it was not accepted.
        identity = _identity(outcome.headers.get("message_id", ""), envelope.mail_from, list(per_rcpt), len(raw))
        earlier = self._earlier.pop(identity, None)
        record = dict(queue_id=queue_id, envelope=envelope, per_rcpt=per_rcpt, raw=raw, outcome=outcome,
                      supersedes=earlier)
        if action in KEEP:
            try:
                await asyncio.to_thread(self._record, **record, keep_copy=True)
            except Exception:
                log.exception("milter %s: cannot store the kept message; 451", queue_id)
                return [p.reply_code(replies.LOCAL_ERROR)]
            log.info("milter %s: %s, discarded to Postfix", queue_id, action)
            return [p.encode(p.SMFIR_DISCARD)]
        if action == "reject":  # recorded before the answer, as the gateway does, so trace shows it at once
            try:
                await asyncio.to_thread(self._record, **record, keep_copy=True)
            except Exception:  # refusing must not depend on our database
                log.exception("milter %s: cannot record the rejected message", queue_id)
            return [p.reply_code(replies.rejected(outcome.verdict.get("reasons", [])))]
        try:
            await asyncio.to_thread(self._record, **record, keep_copy=False)
        except Exception:  # accepting what the trace cannot show would break "every 250 is accounted for"
            log.exception("milter %s: cannot record the accepted message; 451", queue_id)
            return [p.reply_code(replies.LOCAL_ERROR)]
        return [*self._header_edits(txn, outcome, queue_id, agreed), p.encode(p.SMFIR_ACCEPT)]

    def _envelope(self, client: Client, txn: Transaction):
        auth_user = client.macros.get("auth_authen") or None
        direction, per_rcpt = self.rules.classify(
            mail_from=txn.mail_from, rcpt_tos=txn.rcpt_tos, client_ip=client.address, auth_user=auth_user
        )
        envelope = Envelope(
            mail_from=txn.mail_from,
            rcpt_tos=tuple(txn.rcpt_tos),
            client_ip=client.address,
            helo=client.helo or None,
            direction=direction,
            auth_user=auth_user,
            extra={"postfix_queue_id": client.macros.get("i", "")},
        )
        return envelope, per_rcpt

    def _header_edits(self, txn: Transaction, outcome: ScanOutcome, queue_id: str, agreed: int) -> list[bytes]:
        # With leading spaces agreed, Postfix writes our value right after the colon: we bring the space.
        space = b" " if agreed & p.SMFIP_HDR_LEADSPC else b""
        verdict = outcome.verdict
        edits = []
        # Delete from the last occurrence backwards, so the indexes of the ones still to delete hold.
        for name, index in reversed(_indexed(txn.headers)):
            if name.lower().startswith(OUR_PREFIX):
                edits.append(p.change_header(name, index, b""))
        action = verdict["action"]
        if action == "tag" and self.subject_tag:
            edits.extend(self._tag_subject(txn, space))
        edits.append(
            p.add_header(
                "X-Kakuri-Verdict",
                space + p.header_text(f"{action}; score={verdict.get('score', 0.0):.2f}; id={queue_id}"),
            )
        )
        if verdict.get("symbols"):
            edits.append(p.add_header("X-Kakuri-Symbols", space + p.header_text(", ".join(verdict["symbols"]))))
        return edits

    def _tag_subject(self, txn: Transaction, space: bytes) -> list[bytes]:
        tag = self.subject_tag.encode("utf-8")
        for name, value in txn.headers:
            if name.lower() == b"subject":
                if value.lstrip().startswith(tag):
                    return []
                return [p.change_header(b"Subject", 1, space + tag + b" " + value.lstrip())]
        return [p.add_header("Subject", space + tag)]

    # -- records ---------------------------------------------------------------------------------
    def _load_earlier(self) -> dict[str, str]:
        with self.stores.sessions() as session:
            newest = session.scalars(
                select(Message).where(Message.origin == ORIGIN, Message.state != MessageState.REJECTED)
                .order_by(Message.received_at.desc()).limit(EARLIER_RECORDS)
            )
            return {
                _identity(m.message_id, m.mail_from, [r.address for r in m.recipients], m.size): m.queue_id
                for m in newest
            }

    def _record(self, *, queue_id, envelope: Envelope, per_rcpt, raw: bytes, outcome: ScanOutcome, keep_copy: bool,
                supersedes: str | None = None):
        """The message row, as the gateway writes it; delivered mail is handed back to Postfix at once.
        `supersedes`: the queue id of the same transaction recorded by a run killed before answering it."""
        action = outcome.verdict["action"]
        blob = self.stores.blobs.put(raw) if keep_copy else None
        results = None
        if action not in KEEP and action != "reject":
            postfix_id = envelope.extra.get("postfix_queue_id") or "?"
            handed = (RecipientStatus.DELIVERED, f"250 accepted by milter; Postfix queue id {postfix_id}", None)
            results = {r: handed for r in per_rcpt}
        with self.stores.sessions() as session:
            if supersedes:
                log.info("milter %s: sent again; %s was recorded but never answered (kakuri was stopped)",
                         queue_id, supersedes)
                reply = f"451 not accepted: kakuri stopped before answering; sent again as {queue_id}"
                mailflow.record_not_accepted(session, queue_id=supersedes, reply=reply)
            # One commit: message, recipients and "handed to Postfix" together (two commits left a kill -9
            # in between a message "queued" for ever: nothing in the spool would ever finish it).
            message = mailflow.record_accepted(
                session,
                **outcome.record_fields(
                    queue_id=queue_id,
                    envelope=envelope,
                    rcpt_directions={r: d.value for r, d in per_rcpt.items()},
                    raw=raw,
                    received_at=datetime.now(UTC),
                    origin=ORIGIN,
                    blob=blob,
                ),
                state=MessageState.REJECTED if action == "reject" else None,
                results=results,
            )
        if action not in KEEP and action != "reject" and self.retention is not None:  # Postfix delivers it
            self._retain(queue_id, envelope, raw, outcome)
        return message

    def _retain(self, queue_id: str, envelope: Envelope, raw: bytes, outcome: ScanOutcome) -> None:
        """A copy of accepted mail for the retro-scan, after the record's commit: a kill -9 in between
        only costs this message's re-examination, never the accept."""
        retention = self.retention
        if not retention.wants(direction=envelope.direction.value, size=len(raw)):
            return
        key = retention.keep(raw)
        with self.stores.sessions() as session:
            retention.record(session, queue_id=queue_id, key=key, size=len(raw), items=outcome.headers.get("retro_items"))
            session.commit()


def _identity(message_id: str, mail_from: str, rcpts: list[str], size: int) -> str:
    """What a client's retry of the same message has in common with the first try, as the record keeps it."""
    return "\0".join([message_id[:998], mail_from, *sorted(rcpts), str(size)])


def _indexed(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, int]]:
    """Each header name with its 1-based occurrence among headers of that name (milter header indexes)."""
    seen: dict[bytes, int] = {}
    out = []
    for name, _ in headers:
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        out.append((name, seen[key]))
    return out
