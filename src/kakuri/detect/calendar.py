"""Calendar invitations used as lures: links in the event, and organisers who are not who sent it.

Threat: an .ics invitation (attached, or the text/calendar part that mail clients turn into an event without
the user opening anything) whose description, URL, attachment or location holds the phishing link, sent by
a stranger or naming an organiser other than the sender, so the event lands in the calendar with the lure.
Technique: RFC 5545 content lines, unfolded and split by hand (the format is line-based and a dozen lines of
code read it without ever raising on hostile input; the icalendar package would build the whole object tree
for the four properties needed). Links in DESCRIPTION, URL, ATTACH, LOCATION, SUMMARY and CONFERENCE
properties are published for the URL detectors (source "calendar"). Meeting and scheduling services (data
file meeting_services.txt) count as innocent link destinations.
Emits: CALENDAR_LINK (context), CALENDAR_ORGANIZER_MISMATCH (the organiser's domain is neither the sender's
nor ours or a partner's), CALENDAR_STRANGER_LINK (an invitation from someone we never corresponded with that
links to a site that is neither the sender's, the organiser's, ours, a partner's nor a meeting service).
Blind spots: links only in an attached file of the event (ATTACH with inline binary is not decoded), and
invitations relayed by calendar services whose sender is the service itself.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import ClassVar, Iterable

from kakuri.detect.attachment_links import publish_urls
from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec
from kakuri.parse.domains import registrable_domain
from kakuri.parse.redirects import redirect_targets
from kakuri.parse.urls import Url, extract_text_urls

MAX_CALENDAR_BYTES = 2 * 1024 * 1024
LINK_PROPERTIES = frozenset({"DESCRIPTION", "URL", "ATTACH", "LOCATION", "SUMMARY", "CONFERENCE", "X-ALT-DESC"})
_LINE = re.compile(r"^([A-Za-z0-9-]+)((?:;[^:]*)?):(.*)$")
_MAILTO = re.compile(r"mailto:([^\s;:\"<>]+@[^\s;:\"<>]+)", re.IGNORECASE)


def load_meeting_services(*extra: Path) -> frozenset[str]:
    """The stock list plus the operator's files (`<home>/rules/meeting_services.txt`), when present."""
    texts = [resources.files("kakuri.data").joinpath("meeting_services.txt").read_text(encoding="utf-8")]
    texts += [path.read_text(encoding="utf-8") for path in extra if path.is_file()]
    return frozenset(line.strip().lower() for text in texts for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def is_calendar(part: Part) -> bool:
    ctype = part.content_type.lower()
    return (ctype.startswith(("text/calendar", "application/ics")) or part.extension in ("ics", "vcs", "ical")
            or part.data[:64].lstrip().upper().startswith(b"BEGIN:VCALENDAR"))


def content_lines(data: bytes) -> Iterable[tuple[str, str, str]]:
    """(NAME, params, value) of each unfolded content line; value escapes (\\n, \\,) undone."""
    text = data[:MAX_CALENDAR_BYTES].decode("utf-8", "replace")
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    for line in unfolded.splitlines():
        match = _LINE.match(line)
        if match:
            value = match.group(3).replace("\\n", "\n").replace("\\N", "\n").replace("\\,", ",").replace("\\;", ";")
            yield match.group(1).upper(), match.group(2), value


class Calendar:
    name: ClassVar[str] = "calendar"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("CALENDAR_LINK", "calendar", "A calendar invitation carries web links"),
        SymbolSpec("CALENDAR_ORGANIZER_MISMATCH", "calendar",
                   "A calendar invitation names an organiser whose domain is neither the sender's, ours nor a partner's"),
        SymbolSpec("CALENDAR_STRANGER_LINK", "calendar",
                   "An invitation from someone we never corresponded with links to a site that is neither theirs, "
                   "ours, a partner's nor a meeting service"),
    )

    def __init__(self, meeting_services: frozenset[str] | None = None) -> None:
        self.meeting_services = load_meeting_services() if meeting_services is None else meeting_services

    @classmethod
    def from_folder(cls, rules: Path) -> Calendar:
        return cls(load_meeting_services(rules / "meeting_services.txt"))

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part in message.walk_parts():
            if is_calendar(part):
                yield from self._check_part(part, message, ctx)

    def _check_part(self, part: Part, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        organizers: list[str] = []
        urls: list[Url] = []
        for name, params, value in content_lines(part.data):
            if name == "ORGANIZER":
                organizers.extend(m.lower() for m in _MAILTO.findall(f"{params}:{value}"))
            elif name in LINK_PROPERTIES:
                urls.extend(extract_text_urls(value, "calendar"))
        sender_org = registrable_domain(message.from_addr.rpartition("@")[2])
        ev = {"filename": part.filename or ""}
        mismatch = [o for o in organizers if not self._is_ours_or(o.rpartition("@")[2], sender_org, ctx)]
        if mismatch:
            yield Finding("CALENDAR_ORGANIZER_MISMATCH", self.name, part.path,
                          {**ev, "organizer": mismatch[0], "from": message.from_addr})
        if not urls:
            return
        publish_urls(ctx, urls)
        yield Finding("CALENDAR_LINK", self.name, part.path, {**ev, "url": urls[0].url[:300], "count": str(len(urls))})
        if ctx.knowledge.is_known_contact(message.from_addr):
            return
        organizer_orgs = {registrable_domain(o.rpartition("@")[2]) for o in organizers}
        for url in urls:
            # A gateway-rewritten or tracked link is judged by where it lands (a wrapped Teams link is a meeting).
            destination = (redirect_targets(url) or (url,))[-1]
            org = registrable_domain(destination.host) or destination.host
            if org in organizer_orgs or org in self.meeting_services or self._is_ours_or(destination.host, sender_org, ctx):
                continue
            yield Finding("CALENDAR_STRANGER_LINK", self.name, part.path, {**ev, "url": url.url[:300], "host": url.host})
            return

    def _is_ours_or(self, host: str, sender_org: str, ctx: ScanContext) -> bool:
        org = registrable_domain(host.lower()) or host.lower()
        return bool(org) and (org == sender_org or ctx.knowledge.is_our_domain(org) or ctx.knowledge.is_partner_domain(org))
