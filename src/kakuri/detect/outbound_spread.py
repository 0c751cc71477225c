"""Mail an infected PC sends in our name: hijacked replies to many outsiders.

Threat: Emotet's spam module steals a user's old threads and address book and sends, from that user's
account, "RE:" replies of real threads to contacts who never took part in them, many unrelated
companies in one mail, with a macro document, an archive or a download link.
Technique: for outbound mail only, compare the recipients with the thread the message claims to
continue (by In-Reply-To/References, else by subject) and count the recipients' organisations.
Emits: OUTBOUND_REPLY_OUTSIDE_THREAD, OUTBOUND_MANY_ORGANISATIONS. Both are weak alone (people do
widen a thread, and announcements go to many companies); composites quarantine them with a payload.
Blind spot: a thread the ledger never saw, and spam sent to a single recipient per mail.
"""

from __future__ import annotations

from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Direction, Finding, ParsedMessage, SymbolSpec
from kakuri.model.knowledge import ThreadInfo
from kakuri.parse.addresses import domain_of, is_same_organisation, organisation_of
from kakuri.parse.threading import is_reply_subject

MANY_ORGANISATIONS = 4  # distinct outside organisations in one mail's recipients
MIN_OUTSIDERS = 2  # recipients foreign to the thread before a reply counts as spread


class OutboundSpread:
    name: ClassVar[str] = "outbound_spread"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("OUTBOUND_REPLY_OUTSIDE_THREAD", "outbound", "Our reply to a known thread goes to outsiders who never took part in it"),
        SymbolSpec("OUTBOUND_MANY_ORGANISATIONS", "outbound", "One outbound mail addressed to many unrelated outside organisations"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        if ctx.envelope.direction is not Direction.OUTBOUND:
            return
        knowledge = ctx.knowledge
        recipients = sorted({r.lower() for r in (*ctx.envelope.rcpt_tos, *message.recipients) if r})
        external = [r for r in recipients if not knowledge.is_our_domain(domain_of(r))]
        organisations = sorted({organisation_of(r) for r in external})
        if len(organisations) >= MANY_ORGANISATIONS:
            yield Finding("OUTBOUND_MANY_ORGANISATIONS", self.name, evidence={
                "organisations": str(len(organisations)), "examples": ", ".join(organisations[:8])})
        thread = _claimed_thread(message, ctx)
        if thread is None:
            return
        outsiders = [r for r in external if not any(r == p or is_same_organisation(r, p) for p in thread.participants)]
        if len(outsiders) >= min(MIN_OUTSIDERS, len(external)) and outsiders:
            yield Finding("OUTBOUND_REPLY_OUTSIDE_THREAD", self.name, evidence={
                "thread": thread.thread_id[:200], "subject": thread.subject[:200],
                "outsiders": ", ".join(outsiders[:8]), "count": str(len(outsiders))})


def _claimed_thread(message: ParsedMessage, ctx: ScanContext) -> ThreadInfo | None:
    refs = [r for r in (message.in_reply_to, *message.references) if r]
    if refs:
        return ctx.knowledge.thread_by_reference(refs)
    if is_reply_subject(message.subject):
        threads = ctx.knowledge.threads_by_subject(message.subject)
        return threads[0] if len(threads) == 1 else None  # an ambiguous subject proves nothing
    return None
