"""Builders for test inputs: messages and their attachments, made in code so tests cover techniques."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid


def make_message(
    *,
    subject: str = "Hello",
    from_: str = "Taro Yamada <taro@partner.example>",
    to: str = "Hanako Sugiyama <hanako@tokai-keiki.example>",
    body: str = "Hello,\nplease see below.\n",
    html: str | None = None,
    attachments: list[tuple[str, bytes]] | list[tuple[str, bytes, str]] = (),
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
    charset: str = "utf-8",
) -> bytes:
    """A well-formed message as raw bytes (CRLF), with optional HTML alternative and attachments."""
    msg = EmailMessage()
    msg["From"] = from_
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(1598918400, localtime=False)
    msg["Message-ID"] = message_id or make_msgid(domain=from_.rsplit("@", 1)[-1].strip(">"))
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body, charset=charset)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for item in attachments:
        filename, data = item[0], item[1]
        mime = item[2] if len(item) > 2 else "application/octet-stream"
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
