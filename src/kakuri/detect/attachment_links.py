"""Links that only an attachment carries, shared with the URL detectors.

The body's links come from `parse.urls.message_urls`. Links inside attachments (PDF link annotations and
buttons, QR codes, calendar invitations, HTML pages, Office hyperlinks) are found by the detectors that open
those attachments; they publish them here, in `ScanContext.facts`, so the URL detectors judge them like any
body link without knowing how each attachment is read. Publishers run before the URL detectors (see the
registry's order). `Url.source` says where a link came from ("pdf", "qr", "calendar", "html-attachment",
"office"), and those sources count as links a reader follows (`Url.is_link`).
"""

from __future__ import annotations

from typing import Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import ParsedMessage
from kakuri.parse.domains import registrable_domain
from kakuri.parse.urls import Url

FACT = "urls.attachments"
MAX_URLS = 100  # per message: a few lures, not a mailing list's worth of links


def publish_urls(ctx: ScanContext, urls: Iterable[Url]) -> None:
    known: list[Url] = ctx.facts.setdefault(FACT, [])
    seen = {(u.url, u.source) for u in known}
    for url in urls:
        if len(known) >= MAX_URLS:
            return
        if (url.url, url.source) not in seen:
            seen.add((url.url, url.source))
            known.append(url)


def attachment_urls(ctx: ScanContext) -> list[Url]:
    """Every link published so far by the attachment detectors, in the order they found them."""
    return list(ctx.facts.get(FACT, ()))


def is_foreign_link(url: Url, message: ParsedMessage, ctx: ScanContext) -> bool:
    """The link's site is neither the sender's organisation, ours nor a known partner's."""
    org = registrable_domain(url.host) or url.host
    sender_org = registrable_domain(message.from_addr.rpartition("@")[2])
    if not org or (sender_org and org == sender_org):
        return False
    return not (ctx.knowledge.is_our_domain(org) or ctx.knowledge.is_partner_domain(org))
