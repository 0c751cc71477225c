"""IOC exchange: indicators in and out (STIX 2.1 `stix.py`, MISP `misp.py`, abuse.ch `abusech.py`, feeds `feeds.py`).

Every format becomes a list of `Ioc(kind, value, description)` with the kinds of `store.indicators.KINDS`,
stored per source. After a change the scanner's own lists are rewritten from the database
(`<home>/rules/sha256/kakuri-imported.txt`, `<home>/rules/urlhaus/kakuri-imported.csv`), so new mail
is judged with the new indicators from the next scanner start, and the retro-scan matches them
against mail already delivered.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kakuri.respond.incidents import get_incident, link
from kakuri.store.incidents import IncidentEvent
from kakuri.store.indicators import KINDS, Indicator

# How incident links written by `kakuri incident iocs` name their indicators.
_LINK_KINDS = {"sender": "email", **{k: k for k in KINDS}}
_C2_SYMBOLS = ("C2", "BEACON", "FEED", "IP_POST")  # hunt findings whose destination is an attacker's server


@dataclass(frozen=True, order=True)
class Ioc:
    kind: str
    value: str
    description: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.value


def clean(iocs) -> list[Ioc]:
    """Known kinds only, values trimmed (hashes lower case), duplicates dropped, in a stable order."""
    seen: dict[tuple[str, str], Ioc] = {}
    for ioc in iocs:
        value = ioc.value.strip()
        if ioc.kind not in KINDS or not value:
            continue
        if ioc.kind in ("sha256", "md5", "sha1", "domain", "email", "ip"):
            value = value.lower().rstrip(".") if ioc.kind == "domain" else value.lower()
        seen.setdefault((ioc.kind, value), Ioc(ioc.kind, value, ioc.description))
    return sorted(seen.values())


def incident_iocs(session: Session, incident_id: int) -> list[Ioc]:
    """What an incident knows: indicator links (from its messages or imports), indicators imported into it,
    and the C2 addresses its hunt found."""
    incident = get_incident(session, incident_id)
    found = []
    for item in incident.links:
        if item.kind != "indicator":
            continue
        prefix, _, value = item.value.partition(":")
        if prefix in _LINK_KINDS:
            found.append(Ioc(_LINK_KINDS[prefix], value, item.note))
    for row in session.scalars(select(Indicator).where(Indicator.incident_id == incident_id)):
        found.append(Ioc(row.kind, row.value, row.description))
    for event in session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id,
                                                             IncidentEvent.kind == "detection")):
        for evidence in (event.detail or {}).get("evidence", []) or []:
            if isinstance(evidence, dict) and any(s in str(evidence.get("symbol", "")) for s in _C2_SYMBOLS):
                dst = str((evidence.get("evidence") or {}).get("dst", ""))
                host = dst.rsplit(":", 1)[0].strip("[]") if dst.count(":") == 1 or dst.startswith("[") else dst
                if host:
                    found.append(Ioc("ip", host, f"C2 seen by the hunt ({evidence.get('symbol')})"))
    return clean(found)


def store_iocs(
    session: Session, iocs: list[Ioc], *, source: str, incident_id: int | None = None, actor: str = "",
    replace: bool = False,
) -> int:
    """Add the indicators of one source (with `replace`, the source's earlier ones go); returns how many are new."""
    iocs = clean(iocs)
    if replace:
        session.execute(delete(Indicator).where(Indicator.source == source))
        existing = set()
    else:
        existing = set(session.execute(select(Indicator.kind, Indicator.value).where(Indicator.source == source)))
    new = [i for i in iocs if i.key not in existing]
    session.add_all(Indicator(kind=i.kind, value=i.value, source=source, description=i.description[:2000],
                              incident_id=incident_id) for i in new)
    if incident_id is not None:
        for ioc in iocs:
            link(session, incident_id, kind="indicator", value=f"{ioc.kind}:{ioc.value}", actor=actor or "iocx",
                 note=f"imported from {source}")
    session.flush()
    return len(new)


def write_scanner_lists(session: Session, home: Path) -> tuple[int, int]:
    """Rewrite the hash list and URL feed the scanner reads from the imported indicators; (hashes, URLs)."""
    hashes = sorted(set(session.scalars(select(Indicator.value).where(Indicator.kind == "sha256"))))
    urls = sorted(set(session.scalars(select(Indicator.value).where(Indicator.kind == "url"))))
    _write(home / "rules" / "sha256" / "kakuri-imported.txt",
           "# written by kakuri from imported indicators (kakuri iocs); do not edit\n" + "".join(h + "\n" for h in hashes))
    out = io.StringIO()
    out.write("# written by kakuri from imported indicators (kakuri iocs); URLhaus CSV layout\n")
    writer = csv.writer(out, lineterminator="\n")
    for number, url in enumerate(urls, 1):
        writer.writerow([number, "", url, "online", "", "", "", ""])
    _write(home / "rules" / "urlhaus" / "kakuri-imported.csv", out.getvalue())
    return len(hashes), len(urls)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
