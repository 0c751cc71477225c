"""Every SMTP reply the gateway gives, named in one place (as aiosmtpd's testing/statuscodes.py does)."""

from __future__ import annotations

QUEUED = "250 2.0.0 Ok: queued as {queue_id}"
OK = "250 2.1.0 Ok"
RCPT_OK = "250 2.1.5 Ok"
SPOOL_FULL = "451 4.3.1 Insufficient system storage, try again later"
SPOOL_BEHIND = "451 4.3.2 System busy, try again later"
LOCAL_ERROR = "451 4.3.0 Local error in processing, try again later"
TOO_MANY_RCPTS = "452 4.5.3 Too many recipients"
BAD_ADDRESS = "553 5.1.3 Bad recipient address syntax"
BAD_SENDER = "553 5.1.7 Bad sender address syntax"
RELAY_DENIED = "554 5.7.1 Relay access denied"
NO_RECIPIENTS = "554 5.5.1 No valid recipients"
# milter answers (the SMTP client sees them through Postfix)
TOO_BIG = "552 5.3.4 Message size exceeds fixed limit"
SCAN_TEMPFAIL = "451 4.7.1 Message could not be scanned now, try again later"


def rejected(reasons) -> str:
    """550 for a message the policy refuses; the reason is short, ASCII and free of evidence details."""
    reason = "; ".join(reasons)[:200] if reasons else "policy"
    reason = reason.encode("ascii", "replace").decode().replace("\r", " ").replace("\n", " ")
    return f"550 5.7.1 Message rejected by policy ({reason})"
