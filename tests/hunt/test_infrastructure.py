"""Relays declared in [hunt] win; inferred ones need the proxy log to vouch; a PC bypassing the proxy stays a host."""

from __future__ import annotations

import random

from kakuri.hunt import HuntConfig
from kakuri.hunt.infrastructure import PROXY_MIN_DESTINATIONS, is_proxy
from tests.hunt.conftest import symbols
from tests.hunt.logbuilders import DAY, HOUR, T0, conn, dns, hosts, office_traffic, squid, upstream_of

OFFICE = hosts(40)
PROXY, RESOLVER = "10.1.0.10", "10.1.0.53"
BYPASS = "10.1.9.99"
SITES = [f"203.0.113.{i}" for i in range(1, 31)]


def _browsing(clients: list[str], seed: int = 2) -> list[str]:
    """Ordinary browsing of 30 sites through the proxy, spread over three working days."""
    rng = random.Random(seed)
    return [squid(T0 + d * DAY + 8 * HOUR + rng.uniform(0, 9 * HOUR), rng.choice(clients), "CONNECT",
                  f"site{i}.example:443", server_ip=SITES[i - 1], mime="-")
            for d in range(3) for i in range(1, 31) for _ in range(3)]


def _lookups(clients: list[str]) -> list[str]:
    return [dns(T0 + 8 * HOUR + n, c, f"site{n % 30 + 1}.example", [SITES[n % 30]], server=RESOLVER)
            for n, c in enumerate(clients * 3)]


def _direct_c2(host: str) -> list[str]:
    """A bot that ignores the proxy: TCP straight out to three rotating C2 addresses every ~10 minutes."""
    rng = random.Random(9)
    c2s = ["192.0.2.61", "198.51.100.62", "203.0.113.163"]
    out, ts = [], T0 + 8 * HOUR
    for i in range(150):
        out.append(conn(ts, host, c2s[(i // 10) % 3], 8080))
        ts += 600 + rng.uniform(-60, 60)
    return out


def test_proxy_and_resolver_are_inferred_when_not_declared(run_hunt):
    proxy = office_traffic(OFFICE) + _browsing(OFFICE)
    records = run_hunt(proxy=proxy, conn=upstream_of(proxy, PROXY), dns=_lookups(OFFICE))
    assert records[PROXY]["evidence"][0]["evidence"]["role"].startswith("proxy (inferred")
    assert records[RESOLVER]["evidence"][0]["evidence"]["role"].startswith("resolver (inferred")
    assert all(records[h]["verdict"] == "clean" for h in OFFICE)


def test_declared_infrastructure_wins_and_turns_inference_off(run_hunt):
    proxy = office_traffic(OFFICE) + _browsing(OFFICE)
    second = "10.1.0.11"  # looks exactly like a proxy, but the operator listed only one
    cfg = HuntConfig(proxies=[PROXY], resolvers=["10.1.0.54"], mail_servers=["10.1.0.25"])
    records = run_hunt(proxy=proxy, conn=upstream_of(proxy, PROXY) + upstream_of(proxy, second),
                       dns=_lookups(OFFICE), cfg=cfg)
    assert records[PROXY]["evidence"][0]["evidence"]["role"] == "proxy (declared)"
    assert records["10.1.0.54"]["evidence"][0]["evidence"]["role"] == "resolver (declared)"
    assert records["10.1.0.25"]["evidence"][0]["evidence"]["role"] == "mail server (declared)"
    assert "HUNT_RELAY_ROLE" not in symbols(records[second])
    assert RESOLVER not in records  # resolvers were declared: this one is not inferred (and has no traffic of its own)


def test_host_whose_c2_goes_straight_out_while_everyone_else_uses_the_proxy(run_hunt):
    proxy = office_traffic(OFFICE) + _browsing(OFFICE) + _browsing([BYPASS], seed=5)
    # The bot's PC also reaches all thirty sites directly (the malware's own connectivity checks): many
    # outside destinations, every one of them also in the proxy log, but never at the proxy's moments.
    rng = random.Random(4)
    direct = [conn(T0 + d * DAY + 7 * HOUR + rng.uniform(0, 3600), BYPASS, ip, 443) for d in range(3) for ip in SITES]
    logs = dict(proxy=proxy, conn=upstream_of(proxy, PROXY) + direct + _direct_c2(BYPASS),
                dns=_lookups(OFFICE + [BYPASS]))
    records = run_hunt(**logs)
    bot = records[BYPASS]
    assert "HUNT_RELAY_ROLE" not in symbols(bot)
    assert bot["verdict"] == "infected"
    assert {"HUNT_BEACON_ROTATING", "HUNT_IP_LITERAL_ROTATION", "HUNT_UNCOMMON_PORT"} <= symbols(bot)
    assert records[PROXY]["evidence"][0]["evidence"]["role"].startswith("proxy (inferred")
    assert all(records[h]["verdict"] == "clean" for h in OFFICE)
    # the same logs with the proxy declared: the same verdicts, inference or not
    declared = run_hunt(**logs, cfg=HuntConfig(proxies=[PROXY]))
    assert declared[BYPASS]["verdict"] == "infected" and symbols(declared[BYPASS]) == symbols(bot)


def test_many_outside_destinations_alone_do_not_make_a_proxy():
    assert not is_proxy(PROXY_MIN_DESTINATIONS * 5, accounted=0, total=400, own_requests=0)
    assert not is_proxy(PROXY_MIN_DESTINATIONS * 5, accounted=400, total=400, own_requests=300)  # a proxy client
    assert is_proxy(PROXY_MIN_DESTINATIONS, accounted=390, total=400, own_requests=0)
