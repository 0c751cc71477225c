"""Delivery status notifications (RFC 3464) to the envelope sender when recipients fail permanently."""

from __future__ import annotations

from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid

from kakuri.act.tagging import split_header


def build_dsn(
    *,
    hostname: str,
    original: bytes,
    mail_from: str,
    queue_id: str,
    failures: list[tuple[str, str]],  # (recipient, the next hop's last reply)
) -> bytes:
    """A multipart/report bounce with the original's header (not its body: never re-send the payload)."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{hostname}>"
    report["To"] = mail_from
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = formatdate(localtime=False)
    report["Message-ID"] = make_msgid(domain=hostname)
    report["Auto-Submitted"] = "auto-replied"
    lines = [f"This is the mail system at {hostname}.", "", "Your message could not be delivered to:", ""]
    lines += [f"  <{rcpt}>: {reply}" for rcpt, reply in failures]
    report.attach(MIMEText("\n".join(lines) + "\n", "plain", "utf-8"))
    # message/delivery-status is a list of header blocks: one for the message, one per recipient.
    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {hostname}"
    per_message["X-Kakuri-Queue-ID"] = queue_id
    blocks = [per_message]
    for rcpt, reply in failures:
        block = Message()
        block["Final-Recipient"] = f"rfc822; {rcpt}"
        block["Action"] = "failed"
        block["Status"] = _status_of(reply)
        block["Diagnostic-Code"] = f"smtp; {reply}" if reply[:3].isdigit() else f"X-kakuri; {reply}"
        blocks.append(block)
    status_part = MIMEBase("message", "delivery-status")
    status_part.set_payload(blocks)
    report.attach(status_part)
    header_fields, _ = split_header(original)
    headers_part = MIMEBase("text", "rfc822-headers")
    headers_part.set_payload(b"".join(header_fields).decode("utf-8", "replace"))
    report.attach(headers_part)
    return report.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _status_of(reply: str) -> str:
    parts = reply.split()
    if len(parts) > 1 and parts[1][:1] in "245" and parts[1].count(".") == 2:
        return parts[1].replace("4.", "5.", 1) if parts[1].startswith("4.") else parts[1]
    return "5.0.0"
