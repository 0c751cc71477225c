"""Reply-chain hijacking: answers inside a real conversation from someone who never took part in it.

Threat: Emotet steals whole mail threads from infected PCs and replies to them from unrelated
mailboxes, quoting the real conversation and attaching a macro document or a link.
Technique (after rspamd's replies/known_senders and Sublime's thread rules, but with our own ledger):
the In-Reply-To/References ids are looked up in the thread ledger; a sender who is not among the
thread's participants, not in our domains and not in the organisation (registrable domain) of any
participant hijacks it. Without a header reference, a reply subject ("Re:", "AW:", "返信:") that equals a
known thread's base subject, from a sender who is neither a participant nor a known correspondent,
is the same technique with stripped headers. A first-contact sender (unknown to the contact graph and
the directory, outside our and partner organisations) whose body quotes a known conversation is the
variant that only copies the text.
Emits: THREAD_HIJACK, THREAD_HIJACK_SUBJECT (plus THREAD_HIJACK_PAYLOAD when either carries an
attachment or a link), THREAD_QUOTED_FIRST_CONTACT, FAKE_REPLY (reply subject without any reference header; weak, like
rspamd's FAKE_REPLY).
Delivery and read reports (multipart/report from the null sender) are not replies and are skipped.
Blind spots: threads the ledger never saw (install-time history only); replies sent from the
participant's own compromised mailbox (left to sender authentication and content detectors).
"""

from __future__ import annotations

import re
from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, SymbolSpec
from kakuri.model.knowledge import Knowledge, ThreadInfo
from kakuri.parse.addresses import domain_of, emails_in, is_same_organisation, sender_of
from kakuri.parse.threading import has_quoted_conversation, is_reply_subject

_LINK = re.compile(r"https?://|www\.", re.I)
_MAX_LISTED = 8


class ThreadHijack:
    name: ClassVar[str] = "thread_hijack"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("THREAD_HIJACK", "thread", "A reply into a known thread from a sender who never took part in it"),
        SymbolSpec(
            "THREAD_HIJACK_PAYLOAD",
            "thread",
            "The hijacking reply (THREAD_HIJACK or THREAD_HIJACK_SUBJECT) carries an attachment or a link",
        ),
        SymbolSpec(
            "THREAD_HIJACK_SUBJECT",
            "thread",
            "A reply subject matching a known thread, without its headers, from a stranger to that thread",
        ),
        SymbolSpec(
            "THREAD_QUOTED_FIRST_CONTACT",
            "thread",
            "A sender never seen before quotes an earlier conversation of ours",
        ),
        SymbolSpec("FAKE_REPLY", "thread", "The subject says reply but there is no In-Reply-To or References"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        if _is_delivery_report(message, ctx):
            return  # a bounce or read receipt hands our own mail back; the content detectors still see it
        knowledge = ctx.knowledge
        _, sender = sender_of(message)
        refs = [r for r in (message.in_reply_to, *message.references) if r]
        reply_subject = is_reply_subject(message.subject)
        if reply_subject and not refs:
            yield Finding("FAKE_REPLY", self.name, evidence={"subject": message.subject[:200]})
        if not sender or knowledge.is_our_domain(domain_of(sender)):
            return  # colleagues may join any thread; spoofed own domains are sender_auth's job
        thread = knowledge.thread_by_reference(refs) if refs else None
        hijacked: ThreadInfo | None = None
        if thread is not None:
            if not _belongs(sender, thread):
                hijacked = thread
                evidence = _evidence(sender, thread, "references")
                yield Finding("THREAD_HIJACK", self.name, evidence=evidence)
                if _has_payload(message):  # what makes a hijack dangerous; composites can key on either
                    yield Finding("THREAD_HIJACK_PAYLOAD", self.name, evidence=evidence)
        elif reply_subject:
            threads = knowledge.threads_by_subject(message.subject)
            if threads and not knowledge.is_known_contact(sender) and not any(_belongs(sender, t) for t in threads):
                hijacked = threads[0]
                evidence = _evidence(sender, hijacked, "subject")
                yield Finding("THREAD_HIJACK_SUBJECT", self.name, evidence=evidence)
                if _has_payload(message):
                    yield Finding("THREAD_HIJACK_PAYLOAD", self.name, evidence=evidence)
        if self._is_first_contact(sender, knowledge) and has_quoted_conversation(message.body_text):
            if hijacked is not None or self._quotes_known_people(message, sender, knowledge):
                evidence = {"sender": sender}
                if hijacked is not None:
                    evidence["thread"] = hijacked.thread_id[:200]
                yield Finding("THREAD_QUOTED_FIRST_CONTACT", self.name, evidence=evidence)

    def _is_first_contact(self, sender: str, knowledge: Knowledge) -> bool:
        domain = domain_of(sender)
        return not (
            knowledge.is_known_contact(sender)
            or knowledge.person_at(sender) is not None
            or knowledge.is_partner_domain(domain)
            or knowledge.is_our_domain(domain)
        )

    def _quotes_known_people(self, message: ParsedMessage, sender: str, knowledge: Knowledge) -> bool:
        """The quoted text names addresses of ours or of known correspondents (other than the sender)."""
        for address in emails_in(message.body_text[:50_000])[:50]:
            if address != sender and (
                knowledge.is_our_domain(domain_of(address)) or knowledge.is_known_contact(address)
            ):
                return True
        return False


def _is_delivery_report(message: ParsedMessage, ctx: ScanContext) -> bool:
    """A DSN or MDN (multipart/report) sent with the null envelope sender, as RFC 3461/8098 require.

    Exchange-style bounces carry In-Reply-To of the bounced message and come from the recipient's
    provider, a stranger to the thread."""
    content_type = (message.header("Content-Type") or "").lower()
    return content_type.startswith("multipart/report") and ctx.envelope.mail_from in ("", "<>")


def _belongs(sender: str, thread: ThreadInfo) -> bool:
    return sender in thread.participants or any(is_same_organisation(sender, p) for p in thread.participants)


def _has_payload(message: ParsedMessage) -> bool:
    if message.parts:
        return True
    return bool(_LINK.search(message.body_text)) or any(_LINK.search(h) for h in message.html)


def _evidence(sender: str, thread: ThreadInfo, matched_by: str) -> dict[str, str]:
    participants = sorted(thread.participants)
    listed = ", ".join(participants[:_MAX_LISTED]) + (" ..." if len(participants) > _MAX_LISTED else "")
    return {
        "sender": sender,
        "thread": thread.thread_id[:200],
        "subject": thread.subject[:200],
        "participants": listed,
        "matched_by": matched_by,
    }
