import zipfile
from io import BytesIO

import pytest

from kakuri.model import Action, Direction, Envelope
from kakuri.respond.emergency import EmergencyError, EmergencySwitch, ModeKind, active_modes, disable_mode, enable_mode
from kakuri.wiring import build_scanner
from tests.builders import make_message


def _zip_of_pdf() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("invoice.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    return buf.getvalue()


def test_archive_lockdown_quarantines_a_harmless_zip_only_while_on(settings, stores):
    scanner = build_scanner(settings)
    switch = EmergencySwitch(stores.sessions, ttl_seconds=0)
    raw = make_message(attachments=[("invoice.zip", _zip_of_pdf(), "application/zip")])
    plain = make_message(body="no attachment")
    env = Envelope(direction=Direction.INBOUND)
    assert scanner.scan(raw, env, switch.overrides()).verdict.action is Action.DELIVER

    with stores.sessions() as session:
        enable_mode(session, kind=ModeKind.ARCHIVES, actor="alice", reason="outbreak")
        session.commit()
    verdict = scanner.scan(raw, env, switch.overrides()).verdict
    assert verdict.action is Action.QUARANTINE
    assert any("emergency.archives" in r for r in verdict.reasons)
    assert scanner.scan(plain, env, switch.overrides()).verdict.action is Action.DELIVER

    with stores.sessions() as session:
        assert disable_mode(session, kind=ModeKind.ARCHIVES, actor="alice") == 1
        session.commit()
    assert scanner.scan(raw, env, switch.overrides()).verdict.action is Action.DELIVER


def test_hold_outbound_holds_only_outbound(settings, stores):
    scanner = build_scanner(settings)
    switch = EmergencySwitch(stores.sessions, ttl_seconds=0)
    with stores.sessions() as session:
        enable_mode(session, kind=ModeKind.HOLD_OUTBOUND, actor="alice")
        session.commit()
    raw = make_message()
    assert scanner.scan(raw, Envelope(direction=Direction.OUTBOUND), switch.overrides()).verdict.action is Action.HOLD
    assert scanner.scan(raw, Envelope(direction=Direction.INBOUND), switch.overrides()).verdict.action is Action.DELIVER


def test_hold_one_account_and_one_host(settings, stores):
    scanner = build_scanner(settings)
    switch = EmergencySwitch(stores.sessions, ttl_seconds=0)
    with stores.sessions() as session:
        enable_mode(session, kind=ModeKind.HOLD_SENDER, value="Taro@Tokai-Keiki.example", actor="alice")
        enable_mode(session, kind=ModeKind.HOLD_HOST, value="10.20.1.5", actor="alice")
        session.commit()
    raw = make_message(from_="Jiro <jiro@tokai-keiki.example>")
    out = Direction.OUTBOUND
    assert scanner.scan(raw, Envelope(mail_from="taro@tokai-keiki.example", direction=out), switch.overrides()).verdict.action is Action.HOLD
    assert scanner.scan(raw, Envelope(mail_from="jiro@tokai-keiki.example", client_ip="10.20.1.5", direction=out), switch.overrides()).verdict.action is Action.HOLD
    assert scanner.scan(raw, Envelope(mail_from="jiro@tokai-keiki.example", client_ip="10.20.1.6", direction=out), switch.overrides()).verdict.action is Action.DELIVER


def test_enable_is_idempotent_and_values_are_checked(session):
    first = enable_mode(session, kind=ModeKind.ARCHIVES, actor="a")
    again = enable_mode(session, kind=ModeKind.ARCHIVES, actor="b")
    assert first.id == again.id
    assert len(active_modes(session)) == 1
    with pytest.raises(EmergencyError):
        enable_mode(session, kind=ModeKind.HOLD_SENDER, actor="a")
    with pytest.raises(EmergencyError):
        enable_mode(session, kind=ModeKind.ARCHIVES, value="x", actor="a")


def test_switch_caches_for_its_period(stores):
    switch = EmergencySwitch(stores.sessions, ttl_seconds=3600)
    assert switch.overrides() == []
    with stores.sessions() as session:
        enable_mode(session, kind=ModeKind.ARCHIVES, actor="a")
        session.commit()
    assert switch.overrides() == []  # still within the cache period
    assert EmergencySwitch(stores.sessions, ttl_seconds=0).overrides()[0].name == "emergency.archives"
