"""Small synthetic logs for hunt tests: Squid, Zeek conn/dns (TSV with headers) and Postfix maillog lines."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

T0 = datetime(2021, 3, 1, 0, 0, tzinfo=timezone.utc).timestamp()
HOUR = 3600.0
DAY = 86400.0

CONN_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes "
               "conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts "
               "resp_ip_bytes tunnel_parents").split()
DNS_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass qclass_name qtype "
              "qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected").split()


def squid(ts, client, method, url, status=200, size=1500, server_ip="203.0.113.9", mime="text/html", code=None):
    code = code or ("TCP_TUNNEL" if method == "CONNECT" else "TCP_MISS")
    hier = f"HIER_DIRECT/{server_ip}" if server_ip else "HIER_NONE/-"
    return f"{ts:.3f}    120 {client} {code}/{status} {size} {method} {url} - {hier} {mime}\n"


def conn(ts, orig, resp, port, proto="tcp", service="-", state="SF"):
    values = [f"{ts:.6f}", "Cx", orig, "50000", resp, str(port), proto, service, "0.5", "100", "200", state,
              "T", "F", "0", "ShADadFf", "5", "300", "5", "400", "-"]
    return "\t".join(values) + "\n"


def dns(ts, client, query, answers=(), qtype="A", server="10.1.0.53"):
    values = [f"{ts:.6f}", "Cd", client, "53000", server, "53", "udp", "1", "0.001", query, "1", "C_INTERNET",
              "1", qtype, "0", "NOERROR", "F", "F", "T", "T", "0", ",".join(answers) or "-", "60", "F"]
    return "\t".join(values) + "\n"


def zeek_file(path: Path, kind: str, lines: list[str]) -> Path:
    fields = CONN_FIELDS if kind == "conn" else DNS_FIELDS
    header = f"#separator \\x09\n#path\t{kind}\n#fields\t" + "\t".join(fields) + "\n#types\t" + "\t".join(["string"] * len(fields)) + "\n"
    path.write_text(header + "".join(sorted(lines)), encoding="utf-8")
    return path


def syslog_stamp(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, timezone.utc)
    return moment.strftime("%b ") + f"{moment.day:2d}" + moment.strftime(" %H:%M:%S")


@dataclass
class Maillog:
    """Postfix transactions written as the syslog lines Postfix logs for them."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    counter: int = 0x10000

    def _qid(self) -> str:
        self.counter += 1
        return f"{self.counter:X}A0"

    def _add(self, ts: float, program: str, text: str) -> None:
        self.lines.append((ts, f"{syslog_stamp(ts)} mail01 postfix/{program}[123]: {text}\n"))

    def submit(self, ts, account, recipients, *, client_ip="10.1.1.10", client_name="pc.corp.example",
               subject="Hello", auth=True, bounced=(), local=()):
        qid = self._qid()
        sasl = f", sasl_method=LOGIN, sasl_username={account}" if auth else ""
        service = "submission/smtpd" if auth else "smtpd"
        self._add(ts, service, f"{qid}: client={client_name}[{client_ip}]{sasl}")
        self._add(ts, "cleanup", f"{qid}: warning: header Subject: {subject} from {client_name}[{client_ip}]; "
                                 f"from=<{account}> to=<{recipients[0]}> proto=ESMTP helo=<PC>")
        self._add(ts + 1, "qmgr", f"{qid}: from=<{account}>, size=1000, nrcpt={len(recipients)} (queue active)")
        for rcpt in recipients:
            if rcpt in local:
                self._add(ts + 2, "lmtp", f"{qid}: to=<{rcpt}>, relay=mail01[private/dovecot-lmtp], dsn=2.0.0, status=sent (ok)")
            elif rcpt in bounced:
                self._add(ts + 2, "smtp", f"{qid}: to=<{rcpt}>, relay=mx.example[192.0.2.1]:25, dsn=5.1.1, status=bounced (user unknown)")
            else:
                self._add(ts + 2, "smtp", f"{qid}: to=<{rcpt}>, relay=mx.example[192.0.2.1]:25, dsn=2.0.0, status=sent (250 ok)")
        self._add(ts + 3, "qmgr", f"{qid}: removed")

    def deliver(self, ts, sender, recipients, *, client_ip="198.51.100.77", subject="Quote"):
        qid = self._qid()
        self._add(ts, "smtpd", f"{qid}: client=mx.partner.example[{client_ip}]")
        self._add(ts, "cleanup", f"{qid}: warning: header Subject: {subject} from mx.partner.example[{client_ip}]; "
                                 f"from=<{sender}> to=<{recipients[0]}> proto=ESMTP helo=<mx>")
        self._add(ts + 1, "qmgr", f"{qid}: from=<{sender}>, size=1000, nrcpt={len(recipients)} (queue active)")
        for rcpt in recipients:
            self._add(ts + 2, "lmtp", f"{qid}: to=<{rcpt}>, relay=mail01[private/dovecot-lmtp], dsn=2.0.0, status=sent (ok)")
        self._add(ts + 3, "qmgr", f"{qid}: removed")

    def write(self, path: Path) -> Path:
        path.write_text("".join(line for _, line in sorted(self.lines, key=lambda item: item[0])), encoding="utf-8")
        return path


def office_traffic(hosts: list[str], days: int = 3, seed: int = 1) -> list[str]:
    """Ordinary proxied browsing and the benign periodic traffic every office has (all hosts share it)."""
    rng = random.Random(seed)
    lines = []
    for host in hosts:
        for day in range(days):
            start = T0 + day * DAY + 8 * HOUR
            for i in range(8):  # Windows Update-like check, every hour during the work day
                lines.append(squid(start + i * HOUR + rng.uniform(-30, 30), host, "GET",
                                   "http://update.os-vendor.example/v3/cab/static.cab", server_ip="198.51.100.41",
                                   mime="application/vnd.ms-cab-compressed", size=5000))
            for i in range(48):  # SaaS polling every 10 min
                lines.append(squid(start + i * 600 + rng.uniform(-5, 5), host, "CONNECT", "teams.saas.example:443",
                                   server_ip="198.51.100.109", mime="-"))
            for i in range(6):  # CDN and ordinary browsing
                lines.append(squid(start + rng.uniform(0, 9 * HOUR), host, "GET",
                                   f"http://cdn.news.example/img/{rng.randrange(10**6)}.jpg", server_ip="203.0.113.87",
                                   mime="image/jpeg"))
    return lines


def hosts(n: int, prefix: str = "10.1.2.") -> list[str]:
    return [f"{prefix}{i}" for i in range(10, 10 + n)]


def upstream_of(proxy_lines: list[str], proxy_ip: str) -> list[str]:
    """The proxy's own connections in conn.log: one per request it logged, opened when the request began."""
    out = []
    for line in proxy_lines:
        f = line.split()
        hier = f[8].partition("/")[2]
        if hier in ("", "-"):
            continue
        target = f[6].rpartition(":")[2] if f[5] == "CONNECT" else ("443" if f[6].startswith("https") else "80")
        port = int(target) if target.isdigit() else 80
        out.append(conn(float(f[0]) - int(f[1]) / 1000, proxy_ip, hier, port))
    return out
