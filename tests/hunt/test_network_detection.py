"""End to end on small synthetic logs: each network technique, and the benign periodic look-alikes."""

from __future__ import annotations

import random

from tests.hunt.conftest import symbols
from tests.hunt.logbuilders import DAY, HOUR, T0, conn, dns, hosts, office_traffic, squid, upstream_of

OFFICE = hosts(40)
VICTIM = "10.1.9.66"


def _emotet_c2(host: str, c2s: list[str], *, start: float = T0 + 9 * HOUR, beats: int = 30, seed: int = 7) -> list[str]:
    """POSTs to IP-literal C2s on odd ports every ~15 min with jitter, random paths, failover after 503s."""
    rng = random.Random(seed)
    lines, ts = [], start
    for i in range(beats):
        c2 = c2s[(i // 6) % len(c2s)]
        path = "/" + "".join(rng.choice("abcdefghijkLMNOP0123") for _ in range(rng.randint(4, 12))) + "/"
        lines.append(squid(ts, host, "POST", f"http://{c2}{path}", server_ip=c2.split(":")[0],
                           mime="application/octet-stream", size=rng.randint(400, 9000)))
        ts += 900 + rng.uniform(-90, 90)
    return lines


def test_rotating_ip_literal_c2_beacon_without_feed_is_infected(run_hunt):
    c2s = ["192.0.2.201:8080", "198.51.100.33:7080", "203.0.113.44:443"]
    records = run_hunt(proxy=office_traffic(OFFICE) + office_traffic([VICTIM]) + _emotet_c2(VICTIM, c2s))
    victim = records[VICTIM]
    assert victim["verdict"] == "infected"
    assert {"HUNT_BEACON_ROTATING", "HUNT_IP_LITERAL_POST", "HUNT_IP_LITERAL_ROTATION"} <= symbols(victim)
    assert all(records[h]["verdict"] == "clean" for h in OFFICE)


def test_feed_c2_contact_and_payload_download_is_infected(run_hunt):
    proxy = office_traffic(OFFICE) + [
        squid(T0 + 10 * HOUR, VICTIM, "GET", "http://shop.compromised.example/wp-admin/x1/", server_ip="192.0.2.50",
              mime="application/octet-stream", size=320_000),
        squid(T0 + 10 * HOUR + 60, VICTIM, "POST", "http://192.0.2.201:8080/abc/", server_ip="192.0.2.201",
              mime="application/octet-stream"),
    ]
    feodo = ['"2021-01-01 00:00:00","192.0.2.201","8080","online","2021-03-01","Emotet"\n']
    urlhaus = ['"1","2021-02-28 00:00:00","http://shop.compromised.example/wp-admin/x1/","online","","malware_download","emotet","",""\n']
    records = run_hunt(proxy=proxy, feodo=feodo, urlhaus=urlhaus)
    assert records[VICTIM]["verdict"] == "infected"
    assert {"HUNT_FEED_C2", "HUNT_FEED_URL", "HUNT_PAYLOAD_DOWNLOAD"} <= symbols(records[VICTIM])


def test_stale_feed_address_reached_by_name_stays_clean(run_hunt):
    reused = "198.51.100.86"
    proxy = office_traffic(OFFICE) + [
        squid(T0 + d * DAY + 9 * HOUR, VICTIM, "CONNECT", "www.ryokan.example:443", server_ip=reused, mime="-")
        for d in range(3)
    ]
    feodo = [f'"2020-06-01 00:00:00","{reused}","443","offline","2020-09-27","Emotet"\n']
    records = run_hunt(proxy=proxy, feodo=feodo)
    assert records[VICTIM]["verdict"] == "clean"
    assert symbols(records[VICTIM]) == {"HUNT_FEED_C2_STALE"}


def test_listed_download_denied_by_the_proxy_stays_clean(run_hunt):
    url = "http://surf.example/uploads/INV_1.doc"
    proxy = office_traffic(OFFICE) + [squid(T0 + 9 * HOUR, VICTIM, "GET", url, status=403, server_ip=None, code="TCP_DENIED")]
    urlhaus = [f'"1","2021-02-28 00:00:00","{url}","online","","malware_download","doc,emotet","",""\n']
    records = run_hunt(proxy=proxy, urlhaus=urlhaus)
    assert records[VICTIM]["verdict"] == "clean"
    assert symbols(records[VICTIM]) == {"HUNT_FEED_URL_BLOCKED"}


def test_licence_heartbeat_to_ip_literal_shared_by_many_hosts_stays_clean(run_hunt):
    cad = OFFICE[:12]
    beats = [squid(T0 + i * 1800 + j, h, "POST", "http://198.51.100.68:50000/lmgr/v2/heartbeat",
                   server_ip="198.51.100.68", mime="application/xml")
             for j, h in enumerate(cad) for i in range(100)]
    records = run_hunt(proxy=office_traffic(OFFICE) + beats)
    assert all(records[h]["verdict"] == "clean" and records[h]["score"] == 0 for h in cad)


def test_single_host_periodic_saas_polling_by_name_stays_clean(run_hunt):
    polling = [squid(T0 + i * 300 + random.Random(i).uniform(-10, 10), VICTIM, "CONNECT", "api.niche-saas.example:443",
                     server_ip="203.0.113.150", mime="-") for i in range(200)]
    records = run_hunt(proxy=office_traffic(OFFICE) + polling)
    assert symbols(records[VICTIM]) == {"HUNT_BEACON"}
    assert records[VICTIM]["verdict"] == "clean"


def test_ntp_and_monitoring_pings_stay_clean(run_hunt):
    ntp = [conn(T0 + i * 1024 + (i % 3), "10.1.0.5", ip, 123, proto="udp", service="ntp")
           for i in range(300) for ip in ("192.0.2.27", "203.0.113.173")]
    icmp = [conn(T0 + i * 60, "10.1.0.30", "198.51.100.136", 0, proto="icmp") for i in range(500)]
    records = run_hunt(proxy=office_traffic(OFFICE), conn=ntp + icmp)
    assert records["10.1.0.5"]["verdict"] == records["10.1.0.30"]["verdict"] == "clean"
    assert records["10.1.0.5"]["score"] == 0


def test_workstation_sending_smtp_itself_is_flagged_and_the_mail_server_is_not(run_hunt):
    spam = [conn(T0 + 9 * HOUR + i * 20, VICTIM, f"203.0.113.{i % 60 + 1}", 25, state="S0") for i in range(120)]
    mx = [dns(T0 + 9 * HOUR + i * 20, VICTIM, f"partner{i}.example", ("mx.partner.example",), qtype="MX") for i in range(40)]
    server = [conn(T0 + i * 50, "198.51.100.9", "10.1.0.25", 25, service="smtp") for i in range(50)]
    server += [conn(T0 + i * 50 + 5, "10.1.0.25", f"192.0.2.{i % 90 + 1}", 25, service="smtp") for i in range(200)]
    feodo = ['"2021-01-01 00:00:00","192.0.2.7","25","online","2021-03-01","Emotet"\n']
    server += [conn(T0 + 99, "10.1.0.25", "192.0.2.7", 25, service="smtp")]
    records = run_hunt(proxy=office_traffic(OFFICE), conn=spam + server, dns=mx, feodo=feodo)
    assert {"HUNT_DIRECT_SMTP", "HUNT_MX_LOOKUPS"} <= symbols(records[VICTIM])
    assert records[VICTIM]["verdict"] == "infected"
    assert records["10.1.0.25"]["verdict"] == "clean"
    assert symbols(records["10.1.0.25"]) == {"HUNT_RELAY_ROLE"}


def test_proxy_upstream_connections_to_c2_do_not_make_the_proxy_a_suspect(run_hunt):
    c2s = ["192.0.2.201:8080", "198.51.100.33:7080"]
    proxy = office_traffic(OFFICE) + _emotet_c2(VICTIM, c2s)
    proxy += [squid(T0 + i, OFFICE[i], "CONNECT", f"site{i}.example:443", server_ip=f"203.0.113.{i}", mime="-")
              for i in range(1, 30)]
    feodo = ['"2021-01-01 00:00:00","192.0.2.201","8080","online","2021-03-01","Emotet"\n']
    records = run_hunt(proxy=proxy, conn=upstream_of(proxy, "10.1.0.10"), feodo=feodo)
    assert records["10.1.0.10"]["verdict"] == "clean"
    assert records["10.1.0.10"]["evidence"][0]["evidence"]["role"].startswith("proxy (inferred")
    assert records[VICTIM]["verdict"] == "infected"


def test_direct_c2_connections_without_lookups_are_flagged_only_where_dns_is_visible(run_hunt):
    c2 = ["192.0.2.201", "198.51.100.33", "203.0.113.44"]
    beats = [conn(T0 + 9 * HOUR + i * 900 + (i % 5) * 20, host, c2[i % 3], 8080)
             for host in (VICTIM, "10.7.7.7") for i in range(40)]
    lookups = [dns(T0 + i * 600, VICTIM, "www.news.example", ("203.0.113.87",)) for i in range(10)]
    records = run_hunt(proxy=office_traffic(OFFICE), conn=beats, dns=lookups)
    assert {"HUNT_BEACON", "HUNT_IP_LITERAL_POST", "HUNT_IP_LITERAL_ROTATION"} <= symbols(records[VICTIM])
    assert records[VICTIM]["verdict"] == "infected"
    # a site whose resolver the sensor does not see: same traffic, no "without DNS" claim
    assert "HUNT_IP_LITERAL_POST" not in symbols(records["10.7.7.7"])


def test_mail_server_is_recognised_from_its_name_when_no_inbound_smtp_is_visible(run_hunt):
    from tests.hunt.logbuilders import Maillog

    server = "10.1.0.25"
    outbound = [conn(T0 + i * 50, server, f"192.0.2.{i % 90 + 1}", 25, service="smtp") for i in range(200)]
    mx = [dns(T0 + i * 50, server, f"partner{i}.example", ("mx.partner.example",), qtype="MX") for i in range(50)]
    mx += [dns(T0 + 7, OFFICE[0], "mail01.corp.example", (server,))]
    log = Maillog()
    log.deliver(T0 + 5, "a@partner.example", ["ann@corp.example"])
    records = run_hunt(proxy=office_traffic(OFFICE), conn=outbound, dns=mx, mail=log, maillog_year=2021)
    assert records[server]["verdict"] == "clean"
    assert symbols(records[server]) == {"HUNT_RELAY_ROLE"}


def test_single_host_vpn_with_two_ip_endpoints_stays_clean(run_hunt):
    vpn = [squid(T0 + i * 600 + (i % 4) * 7, VICTIM, "CONNECT", f"{ip}:443", server_ip=ip, mime="-")
           for i in range(150) for ip in (("192.0.2.90",) if i % 2 else ("192.0.2.91",))]
    records = run_hunt(proxy=office_traffic(OFFICE) + vpn)
    assert "HUNT_IP_LITERAL_ROTATION" not in symbols(records[VICTIM])
    assert records[VICTIM]["verdict"] == "clean"


def test_niche_updater_polling_for_a_small_file_is_not_a_payload_download(run_hunt):
    polls = [squid(T0 + i * HOUR + (i % 3) * 11, VICTIM, "GET", "http://upd.niche-cad.example:8080/latest.bin",
                   server_ip="203.0.113.160", mime="application/octet-stream", size=900) for i in range(60)]
    records = run_hunt(proxy=office_traffic(OFFICE) + polls)
    assert "HUNT_PAYLOAD_DOWNLOAD" not in symbols(records[VICTIM])
    assert records[VICTIM]["verdict"] == "clean"


def test_tls_tunnels_to_a_rotating_list_of_bare_addresses_are_flagged(run_hunt):
    c2s = ["192.0.2.11:443", "198.51.100.12:995", "203.0.113.13:2222", "192.0.2.14:443"]
    rng = random.Random(11)
    tunnels = [squid(T0 + 9 * HOUR + i * 300 + rng.uniform(-30, 30), VICTIM, "CONNECT", c2s[i % 4],
                     server_ip=c2s[i % 4].split(":")[0], mime="-") for i in range(80)]
    records = run_hunt(proxy=office_traffic(OFFICE) + tunnels)
    assert {"HUNT_IP_LITERAL_ROTATION", "HUNT_BEACON_ROTATING"} <= symbols(records[VICTIM])
    assert records[VICTIM]["verdict"] == "infected"


def test_file_with_a_listed_hash_in_zeek_files_log_is_infected(tmp_path):
    from kakuri.decide.policy import load_policy
    from kakuri.hunt import hunt
    from kakuri.hunt.feeds import Feeds
    from kakuri.hunt.sources import expand

    digest = "ab" * 32
    (tmp_path / "files.log").write_text(
        "#separator \\x09\n#path\tfiles\n#fields\tts\trx_hosts\ttx_hosts\tsha256\n"
        f"{T0:.6f}\t{VICTIM}\t192.0.2.50\t{digest}\n{T0 + 5:.6f}\t10.1.2.10\t192.0.2.51\t{'cd' * 32}\n")
    files, _ = expand([tmp_path])
    records = {r.key: r for r in hunt(files, Feeds(sha256={digest}), load_policy()).records}
    assert records[VICTIM].verdict == "infected"
    assert records["10.1.2.10"].verdict == "clean"
