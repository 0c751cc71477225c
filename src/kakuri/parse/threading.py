"""Conversation structure of a message: normalised subject, reply/forward markers, quoted text.

The subject is normalised like a mail client threads it (RFC 5256 "base subject", extended with the
prefixes Japanese and European clients write): NFKC (so "Ｒｅ：" is "Re:"), leading `[list-tag]`s
and reply/forward prefixes removed repeatedly, whitespace collapsed, case-folded.
"""

from __future__ import annotations

import re
import unicodedata

# Re/Fw in the languages our correspondents' clients use: AW/WG (de), SV/VS (nordic), TR (fr),
# RIF (it), Antw (nl), 返信/転送 (ja), 回复/转发 (zh), 답장/전달 (ko).
_REPLY = r"re|aw|sv|antw|rif|vs|返信|回复|답장"
_FORWARD = r"fwd?|wg|tr|転送|转发|전달"
_PREFIX = re.compile(rf"^\s*(?:(?P<reply>{_REPLY})|(?P<fwd>{_FORWARD}))\s*(?:\[\d+\]|\(\d+\))?\s*:\s*", re.I)
_TAG = re.compile(r"^\s*\[[^\]]{0,60}\]\s*")
_SPACE = re.compile(r"\s+")
_QUOTE_MARKERS = re.compile(
    r"(^>|^-{2,}\s*(original message|元のメッセージ|forwarded message|転送されたメッセージ)|"
    r"^(from|差出人|送信者)\s*:.*$\n^(sent|date|送信日時|日付)\s*:|"
    r"^on .{5,120} wrote:\s*$|年.{1,20}月.{1,20}日.{0,60}(書きました|wrote))",
    re.I | re.M,
)


def _split_prefixes(subject: str) -> tuple[str, bool, bool]:
    text = unicodedata.normalize("NFKC", subject or "")
    replied = forwarded = False
    while True:
        match = _PREFIX.match(text)
        if match:
            replied = replied or bool(match.group("reply"))
            forwarded = forwarded or bool(match.group("fwd"))
            text = text[match.end() :]
            continue
        tag = _TAG.match(text)
        if tag and tag.end() < len(text):
            text = text[tag.end() :]
            continue
        return text, replied, forwarded


def normalise_subject(subject: str) -> str:
    """The base subject threads are matched on: "RE: [ml:12] Fw: 見積依頼" -> "見積依頼"."""
    base, _, _ = _split_prefixes(subject)
    return _SPACE.sub(" ", base).strip().casefold()


def is_reply_subject(subject: str) -> bool:
    """The subject says "reply" (Re:, AW:, 返信: ...), not merely "forward"."""
    return _split_prefixes(subject)[1]


def is_forward_subject(subject: str) -> bool:
    return _split_prefixes(subject)[2]


def has_quoted_conversation(text: str) -> bool:
    """The body quotes an earlier message ("> " lines, an Outlook header block, "On ... wrote:")."""
    return bool(_QUOTE_MARKERS.search(text or ""))
