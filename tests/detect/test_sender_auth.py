"""SPF, DKIM and DMARC through the resolver seam: an in-memory resolver, keys generated here."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kakuri.detect.base import ScanContext
from kakuri.detect.dns import DnsTempError, StaticResolver
from kakuri.detect.sender_auth import SenderAuth, check_spf
from kakuri.model import Direction, Envelope
from kakuri.model.knowledge import StaticKnowledge
from kakuri.parse.mime import parse_message
from tests.builders import make_message

OURS = StaticKnowledge({"tokai-keiki.example"}, {"partner.example"})
PARTNER_IP = "198.51.100.10"
OTHER_IP = "203.0.113.66"


@pytest.fixture(scope="module")
def key() -> tuple[bytes, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


@pytest.fixture
def resolver(key) -> StaticResolver:
    return StaticResolver({
        "partner.example": {"TXT": [f"v=spf1 ip4:{PARTNER_IP} include:_spf.mailcloud.example -all"],
                            "MX": [(10, "mx.partner.example")]},
        "_spf.mailcloud.example": {"TXT": ["v=spf1 ip4:192.0.2.0/25 ~all"]},
        "mx.partner.example": {"A": [PARTNER_IP]},
        "_dmarc.partner.example": {"TXT": ["v=DMARC1; p=reject; adkim=r; aspf=r"]},
        "sel._domainkey.partner.example": {"TXT": [key[1]]},
        "tokai-keiki.example": {"TXT": ["v=spf1 ip4:10.10.1.25 -all"]},
        "_dmarc.tokai-keiki.example": {"TXT": ["v=DMARC1; p=quarantine"]},
        "loose.example": {"TXT": ["v=spf1 mx ?all"]},
    })


def signed(key, domain="partner.example", **kwargs) -> bytes:
    raw = make_message(from_=f"Taro <taro@{domain}>", **kwargs)
    signature = dkim.sign(raw, b"sel", domain.encode(), key[0], include_headers=[b"from", b"to", b"subject"])
    return signature + raw


def run(raw: bytes, resolver, mail_from="taro@partner.example", ip=PARTNER_IP, trusted=(), **env):
    ctx = ScanContext(envelope=Envelope(mail_from=mail_from, client_ip=ip, helo="mail.partner.example", **env),
                      knowledge=OURS, resolver=resolver)
    findings = list(SenderAuth(trusted).check(parse_message(raw), ctx))
    return {f.symbol: f for f in findings}, ctx.facts


@pytest.mark.parametrize(("ip", "mail_from", "expected"), [
    (PARTNER_IP, "taro@partner.example", "pass"),  # ip4
    ("192.0.2.9", "taro@partner.example", "pass"),  # include: inside the included ip4:192.0.2.0/25
    ("192.0.2.200", "taro@partner.example", "fail"),  # the include does not match; the outer -all does
    (OTHER_IP, "taro@partner.example", "fail"),
    ("192.0.2.200", "x@loose.example", "neutral"),  # mx matches nothing (no MX record), then ?all
    (OTHER_IP, "x@nospf.example", "none"),
])
def test_spf_mechanisms(resolver, ip, mail_from, expected):
    assert check_spf(resolver, ip, mail_from, "helo.example")[0] == expected


def test_spf_softfail_is_reported(resolver):
    resolver.add("soft.example", "TXT", "v=spf1 ip4:192.0.2.1 ~all")
    symbols, facts = run(make_message(from_="a@soft.example"), resolver, mail_from="a@soft.example", ip=OTHER_IP)
    assert "AUTH_SPF_SOFTFAIL" in symbols and facts["auth.spf"] == "softfail"


def test_spf_lookup_failure_is_temperror_not_fail(resolver):
    resolver.records["broken.example"] = DnsTempError
    assert check_spf(resolver, OTHER_IP, "a@broken.example", "h.example")[0] == "temperror"


def test_signed_message_from_allowed_server_passes_everything(resolver, key):
    symbols, facts = run(signed(key), resolver)
    assert symbols == {}
    assert (facts["auth.spf"], facts["auth.dkim"], facts["auth.dmarc"]) == ("pass", "pass", "pass")


def test_tampered_body_fails_dkim(resolver, key):
    raw = signed(key).replace(b"please see below", b"please pay to IBAN")
    symbols, facts = run(raw, resolver, ip=OTHER_IP)
    assert facts["auth.dkim"] == "fail"
    assert {"AUTH_DKIM_FAIL", "AUTH_SPF_FAIL", "AUTH_DMARC_FAIL"} <= set(symbols)
    assert symbols["AUTH_DMARC_FAIL"].evidence["policy"] == "reject"


def test_forwarded_message_with_intact_signature_passes_dmarc(resolver, key):
    """A forwarder breaks SPF (its IP is not the partner's) but DKIM survives: DMARC passes, no SPF finding."""
    symbols, facts = run(signed(key), resolver, ip=OTHER_IP)
    assert facts["auth.spf"] == "fail" and facts["auth.dmarc"] == "pass"
    assert symbols == {}


def test_dmarc_misalignment_fails_under_reject(resolver, key):
    """SPF passes for the attacker's own envelope domain, DKIM for its own d=, From says partner."""
    resolver.add("attacker.example", "TXT", f"v=spf1 ip4:{OTHER_IP} -all")
    resolver.add("sel._domainkey.attacker.example", "TXT", key[1])
    raw = make_message(from_="Taro <taro@partner.example>")
    raw = dkim.sign(raw, b"sel", b"attacker.example", key[0], include_headers=[b"from"]) + raw
    symbols, facts = run(raw, resolver, mail_from="bounce@attacker.example", ip=OTHER_IP)
    assert facts["auth.spf"] == "pass" and facts["auth.dkim"] == "pass"
    assert facts["auth.dmarc"] == "fail" and "AUTH_DMARC_FAIL" in symbols


def test_subdomain_of_sender_aligns_relaxed_but_not_strict(resolver):
    resolver.add("bounce.partner.example", "TXT", f"v=spf1 ip4:{OTHER_IP} -all")
    raw = make_message(from_="Taro <taro@partner.example>")
    _, facts = run(raw, resolver, mail_from="b@bounce.partner.example", ip=OTHER_IP)
    assert facts["auth.dmarc"] == "pass"
    resolver.records["_dmarc.partner.example"]["TXT"] = ["v=DMARC1; p=reject; aspf=s"]
    symbols, facts = run(raw, resolver, mail_from="b@bounce.partner.example", ip=OTHER_IP)
    assert facts["auth.dmarc"] == "fail" and "AUTH_DMARC_FAIL" in symbols


def test_outsider_using_our_domain_is_a_strong_finding(resolver):
    raw = make_message(from_="社長 <president@tokai-keiki.example>")
    symbols, _ = run(raw, resolver, mail_from="president@tokai-keiki.example", ip=OTHER_IP)
    assert "AUTH_DMARC_FAIL_OUR_DOMAIN" in symbols and "AUTH_DMARC_FAIL" not in symbols


def test_no_resolver_means_no_lookups_and_no_findings(key):
    symbols, facts = run(signed(key).replace(b"please", b"PLEASE"), None, ip=OTHER_IP)
    assert symbols == {} and facts == {}


def test_outbound_mail_is_not_checked(resolver):
    raw = make_message(from_="a@tokai-keiki.example")
    symbols, _ = run(raw, resolver, mail_from="a@tokai-keiki.example", ip=OTHER_IP, direction=Direction.OUTBOUND)
    assert symbols == {} and resolver.queries == []


def test_trusted_authentication_results_are_used_instead_of_dns():
    header = ("mx.tokai-keiki.example; spf=fail smtp.mailfrom=x@partner.example; "
              "dkim=none; dmarc=fail (p=reject) header.from=partner.example")
    raw = make_message(headers={"Authentication-Results": header})
    symbols, facts = run(raw, None, trusted=["mx.tokai-keiki.example"])
    assert facts["auth.dmarc"] == "fail" and {"AUTH_SPF_FAIL", "AUTH_DMARC_FAIL"} <= set(symbols)


def test_results_of_an_untrusted_authserv_id_are_ignored():
    header = "mx.attacker.example; spf=pass smtp.mailfrom=x@partner.example; dmarc=pass header.from=partner.example"
    raw = make_message(headers={"Authentication-Results": header})
    symbols, facts = run(raw, None, trusted=["mx.tokai-keiki.example"])
    assert symbols == {} and facts == {}


def test_garbage_signature_header_does_not_crash(resolver):
    raw = b"DKIM-Signature: v=1; a=rsa-sha256; d=partner.example; s=sel; b=!!!\r\n" + make_message()
    symbols, facts = run(raw, resolver)
    assert facts["auth.dkim"] == "fail" and "AUTH_DKIM_FAIL" in symbols


def test_spf_is_not_judged_on_our_own_relay(resolver):
    raw = make_message(from_="Taro <taro@partner.example>")
    ctx = ScanContext(envelope=Envelope(mail_from="taro@partner.example", client_ip="10.10.1.25"),
                      knowledge=OURS, resolver=resolver)
    findings = list(SenderAuth(internal_networks=["10.0.0.0/8"]).check(parse_message(raw), ctx))
    assert ctx.facts["auth.spf"] == "none" and not any(f.symbol.startswith("AUTH_SPF") for f in findings)


def test_our_domain_under_p_none_counts_half(resolver):
    resolver.records["_dmarc.tokai-keiki.example"]["TXT"] = ["v=DMARC1; p=none"]
    raw = make_message(from_="a@tokai-keiki.example")
    symbols, _ = run(raw, resolver, mail_from="a@tokai-keiki.example", ip=OTHER_IP)
    assert symbols["AUTH_DMARC_FAIL_OUR_DOMAIN"].weight == 0.5
