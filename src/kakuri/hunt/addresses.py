"""Which addresses are ours: RFC 1918 / ULA by default, or the operator's `internal_networks`."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


class InternalNetworks:
    def __init__(self, cidrs: list[str]):
        self.networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        self.v4 = tuple((int(n.network_address), int(n.broadcast_address)) for n in self.networks if n.version == 4)
        self.is_internal = lru_cache(maxsize=65536)(self._is_internal)

    def _is_internal(self, address: str) -> bool:
        parts = address.split(".")
        if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):  # dotted quad: no object needed
            value = (int(parts[0]) << 24) | (int(parts[1]) << 16) | (int(parts[2]) << 8) | int(parts[3])
            if max(int(p) for p in parts) <= 255:
                return any(lo <= value <= hi for lo, hi in self.v4)
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks if net.version == ip.version)


@lru_cache(maxsize=65536)
def is_ip(text: str) -> bool:
    parts = text.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
        return all(int(p) <= 255 and (p == "0" or p[0] != "0") for p in parts)
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def ip_from_ptr(query: str) -> str | None:
    """`4.3.2.10.in-addr.arpa` -> `10.2.3.4` (IPv4 only; IPv6 PTR names are rare in these logs)."""
    if not query.endswith(".in-addr.arpa"):
        return None
    parts = query[: -len(".in-addr.arpa")].split(".")
    if len(parts) != 4:
        return None
    candidate = ".".join(reversed(parts))
    return candidate if is_ip(candidate) else None
