from kakuri.detect.attachment_links import attachment_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.calendar import Calendar
from kakuri.model import Action
from kakuri.model.knowledge import StaticKnowledge
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from tests.builders import make_message


def invitation(organizer: str, description: str, url: str = "", method: str = "REQUEST") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//EN", f"METHOD:{method}", "BEGIN:VEVENT",
             "UID:1234@test", "DTSTART:20260910T010000Z", "DTEND:20260910T020000Z", "SUMMARY:Quarterly review",
             f"ORGANIZER;CN=Organiser:mailto:{organizer}"]
    if url:
        lines.append(f"URL:{url}")
    folded = f"DESCRIPTION:{description}"
    lines += [folded[:70]] + [" " + folded[i:i + 69] for i in range(70, len(folded), 69)]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines).encode()


def scan(ics: bytes, from_: str, known: bool = False):
    raw = make_message(from_=from_, subject="Invitation", attachments=[("invite.ics", ics, "text/calendar")])
    knowledge = StaticKnowledge(our_domains=frozenset({"tokai-keiki.example"}))
    if known:
        knowledge.is_known_contact = lambda address: True
    ctx = ScanContext(knowledge=knowledge)
    findings = {f.symbol: dict(f.evidence) for f in Calendar().check(parse_message(raw), ctx)}
    return findings, ctx


def test_invitation_from_a_stranger_with_a_phishing_link_and_another_organiser():
    ics = invitation("payroll-team@freemail-host.example",
                     "Your salary adjustment needs confirming before Friday:\\nhttps://hr-portal.lure-host.example/s"
                     "ign?id=77 (folded across lines)")
    findings, ctx = scan(ics, "HR <noreply@booking-relay.example>")
    assert findings["CALENDAR_STRANGER_LINK"]["host"] == "hr-portal.lure-host.example"
    assert findings["CALENDAR_ORGANIZER_MISMATCH"]["organizer"] == "payroll-team@freemail-host.example"
    assert [u.url for u in attachment_urls(ctx)] == ["https://hr-portal.lure-host.example/sign?id=77"]
    assert attachment_urls(ctx)[0].source == "calendar"


def test_colleague_invite_with_a_teams_and_a_zoom_link_is_clean():
    ics = invitation("suzuki@partner.example", "Join: https://teams.microsoft.com/l/meetup-join/19%3ameeting_x "
                     "or https://us02web.zoom.us/j/8812345678")
    findings, _ = scan(ics, "Suzuki <suzuki@partner.example>")
    assert set(findings) == {"CALENDAR_LINK"}


def test_known_correspondent_linking_anywhere_is_only_context():
    ics = invitation("tanaka@customer.example", "Agenda: https://wiki.other-site.example/agenda")
    findings, _ = scan(ics, "Tanaka <tanaka@customer.example>", known=True)
    assert set(findings) == {"CALENDAR_LINK"}


def test_invitation_without_links_still_reports_a_foreign_organiser():
    findings, _ = scan(invitation("wallet-app@freemail-host.example", "Claim your reward"),
                       "Wallet <news@mailer.example>")
    assert set(findings) == {"CALENDAR_ORGANIZER_MISMATCH"}


def test_garbage_calendar_does_not_raise():
    findings, _ = scan(b"BEGIN:VCALENDAR\r\n\x00\xff:::\r\n ;;;\r\nORGANIZER:mailto:\r\n", "x <x@y.example>")
    assert findings == {}


def test_stranger_invitation_with_a_link_is_tagged(settings):
    ics = invitation("it-desk@freemail-host.example", "Re-validate your mailbox: https://mbox.lure-host.example/v")
    raw = make_message(from_="IT <it@mailer.example>", attachments=[("invite.ics", ics, "text/calendar")])
    verdict = Scanner(settings).scan(raw).verdict
    assert verdict.action in (Action.TAG, Action.QUARANTINE), verdict.reasons


def test_meeting_link_rewritten_by_a_security_gateway_is_still_a_meeting():
    wrapped = "https://urldefense.proofpoint.com/v2/url?u=https-3A__teams.microsoft.com_l_meetup-2Djoin_19&d=x"
    findings, _ = scan(invitation("boss@agency.example", f"Join: {wrapped}"), "Boss <boss@agency.example>")
    assert set(findings) == {"CALENDAR_LINK"}
