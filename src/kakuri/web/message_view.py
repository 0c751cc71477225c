"""What the message page shows from the stored raw message: headers, attachment tree, text preview.

The raw message is re-parsed and re-unpacked with the scanner's own stages (`pipeline.parse_and_unpack`),
so the tree shows exactly what the detectors saw. HTML bodies only ever leave here
as text from `html_to_text`; nothing of the mail is handed to the browser as markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from kakuri.model import ParsedMessage, Part
from kakuri.parse.html import html_to_text
from kakuri.pipeline import parse_and_unpack
from kakuri.unpack.limits import UnpackLimits
from kakuri.web.schemas import AttachmentNode

PREVIEW_CHARS = 100_000


@dataclass
class MessageView:
    headers: list[tuple[str, str]]
    attachments: list[AttachmentNode]
    text: str
    truncated: bool


def view_message(raw: bytes, limits: UnpackLimits) -> MessageView:
    parsed = parse_and_unpack(raw, limits)
    text = _preview_text(parsed)
    return MessageView(
        headers=[(name, value[:4000]) for name, value in parsed.headers[:300]],
        attachments=[_node(part) for part in parsed.parts],
        text=text[:PREVIEW_CHARS],
        truncated=len(text) > PREVIEW_CHARS,
    )


def _preview_text(parsed: ParsedMessage) -> str:
    chunks = [parsed.text.strip()] if parsed.text.strip() else []
    for html in parsed.html:
        chunks.append(html_to_text(html))
    return "\n\n".join(chunk for chunk in chunks if chunk)


def _node(part: Part) -> AttachmentNode:
    return AttachmentNode(
        path=part.path,
        filename=part.filename,
        content_type=part.content_type,
        true_type=part.true_type,
        size=part.size,
        sha256=part.sha256,
        encrypted=part.encrypted,
        container=part.container,
        children=[_node(child) for child in part.children],
    )
