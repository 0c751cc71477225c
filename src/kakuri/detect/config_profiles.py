"""Apple configuration profiles (.mobileconfig) sent by mail.

Threat: a profile that, once the victim taps "Install", enrols the iPhone or Mac in the attacker's device
management, trusts the attacker's root certificate (interception of every TLS connection), or routes traffic
through their VPN, proxy or DNS; lighter ones put a phishing "web clip" icon on the home screen or add a mail
account. Signing only shows "Verified" for any certificate a public CA issued, so signed profiles are no safer.
Technique: the profile's property list is found in the file (signed profiles are CMS SignedData with the XML
plist inside, unencrypted) and read with plistlib; each payload's PayloadType is compared with the types that
take control of the device.
Emits: PROFILE_APPLE_CONFIG (a configuration profile of any kind), PROFILE_TAKES_CONTROL (MDM enrolment, root
or identity certificate, VPN, global proxy, DNS settings), PROFILE_WEB_CLIP (a home-screen link or a mail account).
Blind spots: binary plists inside signed profiles and profiles encrypted to a device (both unusual by mail).
"""

from __future__ import annotations

import plistlib
import re
from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec

MAX_PROFILE_BYTES = 4 * 1024 * 1024
_SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")  # 1.2.840.113549.1.7.2, PKCS#7 signedData
_PLIST = re.compile(rb"(?:<\?xml[^>]*>\s*)?(?:<!DOCTYPE[^>]*>\s*)?<plist\b.*?</plist>", re.DOTALL)
CONTROL_TYPES = {
    "com.apple.mdm": "device management (MDM) enrolment",
    "com.apple.security.root": "trusted root certificate",
    "com.apple.security.pem": "certificate",
    "com.apple.security.pkcs1": "certificate",
    "com.apple.security.pkcs12": "identity certificate",
    "com.apple.vpn.managed": "VPN",
    "com.apple.vpn.managed.applayer": "per-app VPN",
    "com.apple.proxy.http.global": "global HTTP proxy",
    "com.apple.dnssettings.managed": "DNS settings",
    "com.apple.dnsproxy.managed": "DNS proxy",
}
LURE_TYPES = {
    "com.apple.webclip.managed": "home-screen web clip",
    "com.apple.mail.managed": "mail account",
    "com.apple.eas.account": "Exchange account",
}


def is_profile(part: Part) -> bool:
    return (part.extension == "mobileconfig" or "aspen-config" in part.content_type.lower()
            or (part.data.find(b"PayloadType", 0, MAX_PROFILE_BYTES) >= 0
                and part.data.find(b"<plist", 0, MAX_PROFILE_BYTES) >= 0))


def payload_types(data: bytes) -> list[str] | None:
    """The PayloadType of the profile and of each of its payloads, lower-cased; None if no plist is readable."""
    match = _PLIST.search(data[:MAX_PROFILE_BYTES])
    if match is None:
        return None
    try:
        profile = plistlib.loads(match.group(0))
    except Exception:  # malformed XML, or a type plistlib rejects: not a profile we can read
        return None
    if not isinstance(profile, dict):
        return None
    items = [profile] + [p for p in profile.get("PayloadContent", []) if isinstance(p, dict)] \
        if isinstance(profile.get("PayloadContent"), list) else [profile]
    return [str(item.get("PayloadType", "")).lower() for item in items if item.get("PayloadType")]


class ConfigProfiles:
    name: ClassVar[str] = "config_profiles"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("PROFILE_APPLE_CONFIG", "profile", "An Apple configuration profile (.mobileconfig) is attached"),
        SymbolSpec("PROFILE_TAKES_CONTROL", "profile", "The configuration profile enrols the device in management or "
                   "installs a root certificate, VPN, proxy or DNS settings"),
        SymbolSpec("PROFILE_WEB_CLIP", "profile", "The configuration profile adds a home-screen web link or a mail account"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part in message.walk_parts():
            if not is_profile(part):
                continue
            types = payload_types(part.data)
            if not types:
                continue  # no readable plist, or a plist that is no profile (Info.plist...)
            ev = {"filename": part.filename or "", "signed": "yes" if _SIGNED_DATA_OID in part.data[:4096] else "no"}
            yield Finding("PROFILE_APPLE_CONFIG", self.name, part.path, {**ev, "payloads": ", ".join(types)[:300]})
            control = sorted({CONTROL_TYPES[t] for t in types if t in CONTROL_TYPES})
            if control:
                yield Finding("PROFILE_TAKES_CONTROL", self.name, part.path, {**ev, "installs": ", ".join(control)})
            lure = sorted({LURE_TYPES[t] for t in types if t in LURE_TYPES})
            if lure:
                yield Finding("PROFILE_WEB_CLIP", self.name, part.path, {**ev, "installs": ", ".join(lure)})
