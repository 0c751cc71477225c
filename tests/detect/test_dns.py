"""The dnspython resolver against a real DNS server on loopback (built here with dnspython)."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rrset
import pytest

from kakuri.detect.dns import DnsResolver, DnsTempError, build_resolver
from kakuri.detect.sender_auth import check_spf

ZONE = {
    ("partner.example.", "TXT"): ['"v=spf1 ip4:198.51.100.10 mx -all"'],
    ("partner.example.", "MX"): ["10 mx.partner.example."],
    ("mx.partner.example.", "A"): ["198.51.100.20"],
    ("long.example.", "TXT"): ['"v=spf1 " "ip4:192.0.2.1 " "-all"'],  # split strings are joined
}


@pytest.fixture
def dns_server():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            reply = dns.message.make_response(query)
            name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
            if name == "servfail.example.":
                reply.set_rcode(dns.rcode.SERVFAIL)
            elif (name, rdtype) in ZONE:
                reply.answer.append(dns.rrset.from_text_list(name, 300, "IN", rdtype, ZONE[(name, rdtype)]))
            elif not any(key[0] == name for key in ZONE):
                reply.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_dnspython_resolver_answers_from_a_loopback_server(dns_server):
    resolver = DnsResolver(["127.0.0.1"], port=dns_server, timeout_seconds=2)
    assert resolver.txt("long.example") == ["v=spf1 ip4:192.0.2.1 -all"]
    assert resolver.mx("partner.example") == [(10, "mx.partner.example")]
    assert resolver.addresses("nothing.example") == []  # NXDOMAIN is an empty answer
    assert check_spf(resolver, "198.51.100.20", "a@partner.example", "h.example")[0] == "pass"  # via mx
    assert check_spf(resolver, "203.0.113.1", "a@partner.example", "h.example")[0] == "fail"


def test_server_failure_is_a_temporary_error(dns_server):
    resolver = DnsResolver(["127.0.0.1"], port=dns_server, timeout_seconds=1)
    with pytest.raises(DnsTempError):
        resolver.txt("servfail.example")


def test_live_lookups_are_opt_in():
    assert build_resolver({}) is None
    assert isinstance(build_resolver({"live_dns": True, "nameservers": ["127.0.0.1"], "port": 5353}), DnsResolver)
