"""Scale a labelled netlogs set up for `kakuri hunt bench`: N copies, time-shifted and renumbered.

Copy k (k >= 1) of every log is moved k days later and given its own addresses and names, so the
copies add up to a group N times the size rather than N replays of one office:
internal 10.A.B.C becomes 10.(100+k).(A/10*50+B).C (netlogs numbers its sites 10.10/10.20/10.30 with
third octets below 50; PTR names are rewritten too), our mail domains become c<k>.<domain>, and every
other mail domain c<k>.<domain> (so that one copy's correspondents are not another's "known contacts").
The labels are rewritten the same way and merged, so the benchmark also checks it still finds every
labelled host and account. Outside addresses, URLs and the feeds stay as they are: the same internet.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kakuri.hunt.sources import expand, open_text

DAY = 86400.0
_INTERNAL = re.compile(r"(?<![\d.])10\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d])")
_PTR = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.10\.in-addr\.arpa")
_MAIL_DOMAIN = re.compile(r"@(?!c\d+\.)([A-Za-z0-9-])")
_SYSLOG = re.compile(r"^([A-Z][a-z]{2}) ([ \d]\d) (\d\d:\d\d:\d\d)")


class Renumbering:
    def __init__(self, copy: int, our_domains: list[str]):
        self.copy = copy
        self.domains = sorted(our_domains, key=len, reverse=True)

    def _ip(self, a: str, b: str, c: str) -> tuple[int, int, int]:
        return 100 + self.copy, (int(a) // 10) * 50 + int(b) % 50, int(c)

    def text(self, line: str) -> str:
        if self.copy == 0:
            return line
        line = _PTR.sub(lambda m: "{}.{}.{}.10.in-addr.arpa".format(
            *reversed(self._ip(m.group(3), m.group(2), m.group(1)))), line)
        line = _INTERNAL.sub(lambda m: "10.{}.{}.{}".format(*self._ip(*m.groups())), line)
        for domain in self.domains:
            line = line.replace(domain, f"c{self.copy}.{domain}")
        return _MAIL_DOMAIN.sub(lambda m: f"@c{self.copy}.{m.group(1)}", line)


def make_copies(source: Path, target: Path, copies: int) -> dict:
    """Write `copies` renumbered copies of the logs under `source`/logs into `target`/logs; the merged labels."""
    labels_path = source / "labels.json"
    labels = json.loads(labels_path.read_text(encoding="utf-8")) if labels_path.exists() else {}
    domains = [site["mail_domain"] for site in labels.get("sites", [])]
    files, _ = expand([source / "logs" if (source / "logs").is_dir() else source])
    merged: dict = {"infected_hosts": [], "compromised_accounts": [], "at_risk_accounts": [], "notify_all": [],
                    "clean_traps": []}
    lines = 0
    for k in range(copies):
        renumber = Renumbering(k, domains)
        folder = target / "logs" / f"copy-{k:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for log_file in files:
            with open_text(log_file.path) as stream, (folder / log_file.path.name.removesuffix(".gz")).open(
                    "w", encoding="utf-8") as out:
                shift = _shifter(log_file.kind, k * DAY)
                for line in stream:
                    out.write(renumber.text(shift(line)))
                    lines += 1
        if labels:
            copy = json.loads(renumber.text(json.dumps({key: labels.get(key, []) for key in merged})))
            for key in merged:
                merged[key].extend(copy[key])
    (target / "labels.json").write_text(json.dumps(merged, indent=1), encoding="utf-8")
    return {"copies": copies, "lines": lines, "files": len(files) * copies}


def _shifter(kind: str, seconds: float):
    if seconds == 0:
        return lambda line: line
    if kind == "squid":
        def squid(line: str) -> str:
            stamp, sep, rest = line.partition(" ")
            try:
                return f"{float(stamp) + seconds:.3f}{sep}{rest}"
            except ValueError:
                return line
        return squid
    if kind == "zeek":
        def zeek(line: str) -> str:  # netlogs' Zeek logs, like Zeek's defaults, put ts first
            if line.startswith("#"):
                return line
            stamp, sep, rest = line.partition("\t")
            try:
                return f"{float(stamp) + seconds:.6f}{sep}{rest}"
            except ValueError:
                return line
        return zeek
    days = int(seconds // DAY)

    def syslog(line: str) -> str:
        m = _SYSLOG.match(line)
        if not m:
            return line
        # 2020 holds 29 February, so every date of a leap-year log survives the shift
        moment = datetime.strptime(f"2020 {m.group(1)} {m.group(2).strip()}", "%Y %b %d").replace(tzinfo=timezone.utc)
        moved = moment + timedelta(days=days)
        return moved.strftime("%b ") + f"{moved.day:2d} " + m.group(3) + line[m.end():]
    return syslog


def _phase(argv: list[str]) -> dict:
    """One measured step, run in a child process so that its peak memory is its own."""
    import time

    from kakuri.decide.policy import load_policy
    from kakuri.hunt.config import HuntConfig
    from kakuri.hunt.feeds import load_feeds
    from kakuri.hunt.store import HuntStore

    phase, store_dir, path = argv[0], Path(argv[1]), Path(argv[2])
    cfg = HuntConfig(engine_memory_mb=int(argv[3])) if len(argv) > 3 else HuntConfig()
    store = HuntStore(store_dir)
    started, cpu = time.perf_counter(), time.process_time()
    if phase == "ingest":
        from kakuri.hunt.daily import connect, mail_days, network_days, refresh, refresh_mail

        files, _ = expand([path])
        report = store.ingest(files, cfg)
        con = connect(cfg, store)
        days = refresh(store, con, cfg, network_days(store))
        maildays = refresh_mail(store, con, cfg, mail_days(store))
        con.close()
        return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
                "lines": report.stats.lines, "days": len(days), "mail_days": len(maildays),
                "malformed": report.stats.malformed_total}
    from kakuri.hunt.run import run
    from kakuri.hunt.verdicts import write_json

    result = run(store, load_feeds(path), load_policy(), cfg)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    write_json(store_dir / "result.json", result.records)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "lines": result.lines, "records": len(result.records),
            "infected": sum(r.verdict == "infected" for r in result.records)}


if __name__ == "__main__":
    import sys

    print(json.dumps(_phase(sys.argv[1:])))
