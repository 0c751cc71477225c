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
