"""The data files the lure-file detectors read load, and hold registrable domains only."""

import pytest

from kakuri.detect.calendar import load_meeting_services
from kakuri.detect.html_attachment import load_secure_services
from kakuri.parse.domains import registrable_domain


@pytest.mark.parametrize("load", [load_meeting_services, load_secure_services])
def test_service_lists_hold_registrable_domains(load):
    domains = load()
    assert len(domains) >= 5
    for domain in domains:
        assert domain == domain.lower().strip() and " " not in domain
        assert registrable_domain(domain) == domain, domain


def test_operators_extend_the_lists_in_their_rules_folder(tmp_path):
    from kakuri.detect.calendar import Calendar
    from kakuri.detect.html_attachment import HtmlAttachment
    from kakuri.unpack.limits import UnpackLimits
    (tmp_path / "meeting_services.txt").write_text("# ours\nintra-video.example\n")
    (tmp_path / "secure_message_services.txt").write_text("securemail-vendor.example\n")
    assert "intra-video.example" in Calendar.from_folder(tmp_path).meeting_services
    assert "securemail-vendor.example" in HtmlAttachment.from_folder(UnpackLimits(), tmp_path).secure_services
