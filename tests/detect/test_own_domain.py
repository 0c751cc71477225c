from kakuri.detect.own_domain import OwnDomain
from kakuri.model import Action, Direction, Envelope
from kakuri.model.knowledge import StaticKnowledge
from kakuri.pipeline import Scanner
from kakuri.wiring import build_scanner
from tests.builders import make_message
from tests.builders_archive import zip_of

OURS = StaticKnowledge(["tokai-keiki.example"])
COLLEAGUE = "Hanako Sugiyama <hanako.sugiyama@tokai-keiki.example>"


def _symbols(settings, raw, envelope):
    scanner = Scanner(settings, knowledge=OURS, detectors=[OwnDomain()])
    return scanner.scan(raw, envelope).verdict.symbols


def test_our_address_forged_from_outside_is_flagged(settings):
    env = Envelope(mail_from="hanako.sugiyama@tokai-keiki.example", client_ip="203.0.113.9", direction=Direction.INBOUND)
    assert _symbols(settings, make_message(from_=COLLEAGUE), env) == ["AUTH_OUR_DOMAIN_FROM_OUTSIDE"]


def test_header_only_forgery_with_foreign_envelope_is_flagged(settings):
    env = Envelope(mail_from="bounce@mailer.test", client_ip="203.0.113.9", direction=Direction.INBOUND)
    assert _symbols(settings, make_message(from_=COLLEAGUE), env) == ["AUTH_OUR_DOMAIN_FROM_OUTSIDE"]


def test_our_own_outbound_and_internal_mail_and_partners_are_clean(settings):
    raw = make_message(from_=COLLEAGUE)
    assert _symbols(settings, raw, Envelope(mail_from="hanako.sugiyama@tokai-keiki.example", direction=Direction.OUTBOUND)) == []
    assert _symbols(settings, raw, Envelope(mail_from="hanako.sugiyama@tokai-keiki.example", direction=Direction.INTERNAL)) == []
    partner = make_message(from_="Kondo <kondo@partner.example>")
    assert _symbols(settings, partner, Envelope(mail_from="kondo@partner.example", direction=Direction.INBOUND)) == []


def test_forgery_with_an_archive_is_quarantined_by_stock_policy(tmp_path):
    from kakuri.settings import load_settings

    settings = load_settings(tmp_path)
    settings.org.our_domains = ["tokai-keiki.example"]
    scanner = build_scanner(settings)
    env = Envelope(mail_from="hanako.sugiyama@tokai-keiki.example", client_ip="203.0.113.9", direction=Direction.INBOUND)
    docs = zip_of({"minutes.pdf": b"%PDF-1.4\n%%EOF\n"})
    assert scanner.scan(make_message(from_=COLLEAGUE, attachments=[("minutes.zip", docs)]), env).verdict.action is Action.QUARANTINE
    assert scanner.scan(make_message(from_=COLLEAGUE), env).verdict.action is Action.TAG
