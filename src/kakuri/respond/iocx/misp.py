"""MISP events in MISP's JSON format (what "Download as JSON" and `/events/restSearch` return).

Import reads the attributes of an event, of its objects, or of a list of events (`{"response": [...]}`
from the REST API), with the types below; attributes marked `to_ids: false` are context, not
detection material, and are skipped. Export writes one event whose attributes are all `to_ids`.
The REST client (`fetch_events`) needs `[iocx.misp] url` and `key_file`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from kakuri.respond.iocx import Ioc, clean

_IMPORT = {
    "sha256": "sha256", "md5": "md5", "sha1": "sha1",
    "url": "url", "link": "url", "uri": "url",
    "domain": "domain", "hostname": "domain",
    "ip-dst": "ip", "ip-src": "ip",
    "email-src": "email", "email": "email", "email-reply-to": "email",
    "email-subject": "subject",
}
_COMPOSITE = {"filename|sha256": (1, "sha256"), "filename|md5": (1, "md5"), "filename|sha1": (1, "sha1"),
              "ip-dst|port": (0, "ip"), "ip-src|port": (0, "ip"), "domain|ip": (0, "domain"),
              "hostname|port": (0, "domain")}
_EXPORT = {
    "sha256": ("sha256", "Payload delivery"), "md5": ("md5", "Payload delivery"), "sha1": ("sha1", "Payload delivery"),
    "url": ("url", "Network activity"), "domain": ("domain", "Network activity"), "ip": ("ip-dst", "Network activity"),
    "email": ("email-src", "Payload delivery"), "subject": ("email-subject", "Payload delivery"),
}


class MispConfig(BaseModel):
    """`[iocx.misp]`."""

    model_config = ConfigDict(extra="forbid")
    url: str = ""  # https://misp.example.org
    key_file: str = ""  # the automation key, in a file readable by kakuri only
    ca_file: str = ""
    last: str = "7d"  # how far back `kakuri iocs pull-misp` asks for events
    tags: list[str] = []  # only events with one of these tags (e.g. "tlp:green"); [] = all


def read_events(text: str | bytes) -> list[tuple[str, list[Ioc]]]:
    """[(event uuid, indicators)] from an event, a list of events or a REST search response."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not MISP JSON: {exc}") from exc
    if isinstance(data, dict) and "response" in data:
        data = data["response"]
    events = data if isinstance(data, list) else [data]
    out = []
    for item in events:
        event = item.get("Event", item) if isinstance(item, dict) else None
        if not isinstance(event, dict) or ("Attribute" not in event and "Object" not in event):
            raise ValueError("not a MISP event: expected {\"Event\": {\"Attribute\": [...]}}")
        attributes = list(event.get("Attribute") or [])
        for obj in event.get("Object") or []:
            attributes += obj.get("Attribute") or []
        out.append((str(event.get("uuid", "")), clean(_iocs(attributes, event.get("info", "")))))
    return out


def _iocs(attributes: list[dict], info: str) -> list[Ioc]:
    found = []
    for attribute in attributes:
        if not _truthy(attribute.get("to_ids", True)):
            continue
        kind, value = attribute.get("type", ""), str(attribute.get("value", ""))
        note = attribute.get("comment") or info
        if kind in _IMPORT:
            found.append(Ioc(_IMPORT[kind], value, note))
        elif kind in _COMPOSITE and "|" in value:
            index, ours = _COMPOSITE[kind]
            found.append(Ioc(ours, value.split("|")[index], note))
    return found


def _truthy(value) -> bool:
    return value not in (False, 0, "0", "false", "False")


def write_event(iocs: list[Ioc], *, title: str, organisation: str, tags: tuple[str, ...] = ("tlp:amber",)) -> str:
    now = datetime.now(UTC)
    attributes = []
    for ioc in clean(iocs):
        kind, category = _EXPORT[ioc.kind]
        attributes.append({"uuid": str(uuid.uuid4()), "type": kind, "category": category, "value": ioc.value,
                           "to_ids": True, "comment": ioc.description[:1000], "timestamp": str(int(now.timestamp()))})
    event = {
        "uuid": str(uuid.uuid4()), "info": title, "date": now.strftime("%Y-%m-%d"), "threat_level_id": "1",
        "analysis": "2", "distribution": "0", "published": False, "timestamp": str(int(now.timestamp())),
        "Orgc": {"name": organisation or "kakuri"}, "Tag": [{"name": t} for t in tags], "Attribute": attributes,
    }
    return json.dumps({"Event": event}, ensure_ascii=False, indent=2)


def fetch_events(config: MispConfig, home: Path, *, client=None) -> str:
    """The events of the last `config.last` from a MISP server's REST API (JSON text)."""
    import httpx

    if not (config.url and config.key_file):
        raise ValueError("set [iocx.misp] url and key_file to pull events from MISP")
    key_path = Path(config.key_file) if Path(config.key_file).is_absolute() else Path(home) / config.key_file
    headers = {"Authorization": key_path.read_text().strip(), "Accept": "application/json",
               "Content-Type": "application/json"}
    body = {"returnFormat": "json", "last": config.last, "to_ids": True}
    if config.tags:
        body["tags"] = config.tags
    verify = str(Path(home) / config.ca_file) if config.ca_file else True
    client = client or httpx.Client(timeout=60, verify=verify)
    response = client.post(config.url.rstrip("/") + "/events/restSearch", headers=headers, json=body)
    response.raise_for_status()
    return response.text
