"""STIX 2.1 bundles (OASIS), read and written with the `stix2` library (the reference implementation).

Import reads Indicator objects with STIX patterns: every `=` comparison on a file hash, URL, domain
name, IP address, e-mail address or e-mail subject becomes an indicator; revoked indicators and those
past `valid_until` are left out. Observables (SCOs) on their own are not imported: a bundle also
carries victims' addresses and benign infrastructure as context, and only an Indicator says "bad".
Export writes an Identity (us), one Indicator per value and a Report naming the incident.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime

import stix2
from stix2patterns.pattern import Pattern

from kakuri.respond.iocx import Ioc, clean

# (STIX object type, property path) -> our kind
_PATHS = {
    ("file", ("hashes", "SHA-256")): "sha256",
    ("file", ("hashes", "SHA256")): "sha256",
    ("file", ("hashes", "MD5")): "md5",
    ("file", ("hashes", "SHA-1")): "sha1",
    ("file", ("hashes", "SHA1")): "sha1",
    ("url", ("value",)): "url",
    ("domain-name", ("value",)): "domain",
    ("ipv4-addr", ("value",)): "ip",
    ("ipv6-addr", ("value",)): "ip",
    ("email-addr", ("value",)): "email",
    ("email-message", ("from_ref", "value")): "email",
    ("email-message", ("sender_ref", "value")): "email",
    ("email-message", ("subject",)): "subject",
}
_PATTERNS = {
    "sha256": "[file:hashes.'SHA-256' = '{}']",
    "md5": "[file:hashes.MD5 = '{}']",
    "sha1": "[file:hashes.'SHA-1' = '{}']",
    "url": "[url:value = '{}']",
    "domain": "[domain-name:value = '{}']",
    "email": "[email-addr:value = '{}']",
    "subject": "[email-message:subject = '{}']",
}


def read_bundle(text: str | bytes) -> tuple[str, list[Ioc]]:
    """(bundle id, indicators). Raises ValueError naming what is wrong with the bundle."""
    try:
        bundle = stix2.parse(text, allow_custom=True)
    except Exception as exc:  # stix2 raises many types (ParseError, InvalidValueError, JSON errors)
        raise ValueError(f"not a STIX 2.1 bundle: {exc}") from exc
    objects = getattr(bundle, "objects", None) or [bundle]
    now = datetime.now(UTC)
    found = []
    for obj in objects:
        if obj.get("type") != "indicator" or obj.get("pattern_type", "stix") != "stix" or obj.get("revoked"):
            continue
        until = obj.get("valid_until")
        if until is not None and until < now:
            continue
        description = obj.get("name") or obj.get("description") or ""
        found += [Ioc(kind, value, description) for kind, value in pattern_values(obj["pattern"])]
    return str(getattr(bundle, "id", "")), clean(found)


def pattern_values(pattern: str) -> list[tuple[str, str]]:
    comparisons = Pattern(pattern).inspect().comparisons
    out = []
    for object_type, items in comparisons.items():
        for path, operator, value in items:
            kind = _PATHS.get((object_type, tuple(str(p) for p in path)))
            if kind and operator == "=" and isinstance(value, str) and value.startswith("'"):
                out.append((kind, value[1:-1].replace("\\'", "'").replace("\\\\", "\\")))
    return out


def write_bundle(iocs: list[Ioc], *, title: str, organisation: str, labels: tuple[str, ...] = ()) -> str:
    """A STIX 2.1 bundle (JSON text) of these indicators, published by `organisation`."""
    now = datetime.now(UTC)
    identity = stix2.Identity(name=organisation or "kakuri", identity_class="organization")
    indicators = [
        stix2.Indicator(
            name=f"{ioc.kind}: {ioc.value}"[:250],
            description=ioc.description or None,
            pattern=_pattern(ioc),
            pattern_type="stix",
            valid_from=now,
            indicator_types=["malicious-activity"],
            created_by_ref=identity.id,
            labels=list(labels) or None,
        )
        for ioc in clean(iocs)
    ]
    report = stix2.Report(
        name=title, published=now, report_types=["threat-report"], created_by_ref=identity.id,
        object_refs=[i.id for i in indicators] or [identity.id],
    )
    bundle = stix2.Bundle(objects=[identity, *indicators, report])
    return bundle.serialize(pretty=True)


def _pattern(ioc: Ioc) -> str:
    value = ioc.value.replace("\\", "\\\\").replace("'", "\\'")
    if ioc.kind == "ip":
        version = ipaddress.ip_address(ioc.value).version
        return f"[ipv{version}-addr:value = '{value}']"
    return _PATTERNS[ioc.kind].format(value)


def is_bundle(text: str) -> bool:
    try:
        return json.loads(text).get("type") == "bundle"
    except (ValueError, AttributeError):
        return False
