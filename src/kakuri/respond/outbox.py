"""Warnings leave through the gateway's own delivery path: one spool entry per recipient.

The entry carries a verdict decided here ("deliver", origin "warning"), so the gateway never scans it
and no emergency policy holds it: a `hold_outbound` switch exists to stop the infected PCs' mail, not the
warning about them. The running gateway picks the entry up within its spool poll, records it in the
message trace like any other mail (origin "warning"), delivers it with its retries and bounces, and the
per-recipient outcome is read back from those records (`warnings.delivery_status`).

Crash window: the spool entry is written before the warning row says "sent"; a crash between the two
makes a re-run send that one warning again (at-least-once, like the gateway's own delivery).
"""

from __future__ import annotations

import time
from email import message_from_bytes
from email.header import decode_header, make_header

from kakuri.act.dispose import OWN_MAIL_VERDICT
from kakuri.model.envelope import Direction, Envelope
from kakuri.receive.spool import Spool, SpoolEntry, new_queue_id
from kakuri.respond.warnings import WarningConfig

ORIGIN = "warning"


class SpoolWarningSender:
    """A `WarningSender` that writes gateway spool entries (delivery happens in the gateway)."""

    def __init__(self, spool: Spool, *, incident_ref: str = "", on_written=None) -> None:
        self.spool = spool
        self.incident_ref = incident_ref
        self._on_written = on_written  # an in-process gateway's queue.submit, to skip the poll wait

    def send(self, raw: bytes, mail_from: str, rcpt: str) -> tuple[bool, str, str | None]:
        queue_id = new_queue_id()
        verdict = {
            **OWN_MAIL_VERDICT,
            "reasons": [f"warning for {self.incident_ref}" if self.incident_ref else "warning from kakuri"],
            "headers": _header_summary(raw),
        }
        entry = SpoolEntry(
            queue_id=queue_id,
            envelope=Envelope(mail_from=mail_from, rcpt_tos=(rcpt,), direction=Direction.OUTBOUND),
            raw=raw,
            received_at=time.time(),
            rcpt_directions={rcpt: Direction.OUTBOUND.value},
            verdict=verdict,
            origin=ORIGIN,
        )
        try:
            self.spool.write(entry)
        except OSError as exc:
            return False, f"cannot write the gateway spool: {exc}", None
        if self._on_written is not None:
            self._on_written(queue_id)
        return True, f"queued as {queue_id}", queue_id


def spool_sender(settings, *, incident_ref: str = "") -> SpoolWarningSender:
    """The sender for a CLI or console process beside a running gateway (same data folder)."""
    from kakuri.receive.shared_spool import spool_for

    return SpoolWarningSender(spool_for(settings), incident_ref=incident_ref)


def warning_config(settings) -> WarningConfig:
    """`[respond.warning]` of kakuri.toml."""
    return WarningConfig.model_validate(settings.section("respond").get("warning", {}))


def _header_summary(raw: bytes) -> dict:
    msg = message_from_bytes(raw)

    def text(name: str) -> str:
        value = msg.get(name, "")
        try:
            return str(make_header(decode_header(value)))
        except (UnicodeDecodeError, LookupError, ValueError):
            return value

    return {
        "message_id": msg.get("Message-ID", "").strip().strip("<>"),
        "from": text("From")[:500],
        "to": text("To")[:1000],
        "subject": text("Subject")[:1000],
        "date": msg.get("Date", "")[:200],
    }
