"""Direction of a message and of each recipient: inbound, outbound or internal.

The sender counts as one of us only when the client is trusted (internal network or authenticated)
AND the envelope sender is in our domains: our own MTA relaying inbound mail connects from a trusted
address too, with an outside sender. Recipients in our domains are internal (from us) or inbound;
others are outbound. Relaying to outside recipients is allowed only to trusted clients, also before our domains are configured.
"""

from __future__ import annotations

import ipaddress

from kakuri.model.envelope import Direction
from kakuri.model.knowledge import StaticKnowledge


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


class DirectionRules:
    def __init__(self, *, our_domains, internal_networks) -> None:
        self.update(our_domains=our_domains, internal_networks=internal_networks)

    def update(self, *, our_domains, internal_networks) -> None:
        """New rules from a reloaded configuration, for every holder of this object (SMTP handler, milter)."""
        networks = [ipaddress.ip_network(n, strict=False) for n in internal_networks]
        self._ours, self._networks = StaticKnowledge(our_domains), networks

    def is_trusted_client(self, client_ip: str | None, auth_user: str | None = None) -> bool:
        if auth_user:
            return True
        if not client_ip:
            return False
        try:
            ip = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._networks)

    def is_ours(self, address: str) -> bool:
        return bool(address) and self._ours.is_our_domain(domain_of(address))

    def may_relay(self, rcpt: str, *, client_ip: str | None, auth_user: str | None) -> bool:
        # Before [org] our_domains is set no recipient is ours, so only trusted clients (loopback by
        # default: `make run`) may send at all; anything else would be an open relay.
        if self.is_ours(rcpt):
            return True
        return self.is_trusted_client(client_ip, auth_user)

    def classify(
        self, *, mail_from: str, rcpt_tos, client_ip: str | None, auth_user: str | None
    ) -> tuple[Direction, dict[str, Direction]]:
        from_us = self.is_trusted_client(client_ip, auth_user) and (
            self.is_ours(mail_from) or bool(auth_user) or not self._ours.our_domains
        )
        per_rcpt: dict[str, Direction] = {}
        for rcpt in rcpt_tos:
            if not from_us:
                per_rcpt[rcpt] = Direction.INBOUND
            elif self.is_ours(rcpt):
                per_rcpt[rcpt] = Direction.INTERNAL
            else:
                per_rcpt[rcpt] = Direction.OUTBOUND
        if not from_us:
            return Direction.INBOUND, per_rcpt
        if any(d is Direction.OUTBOUND for d in per_rcpt.values()):
            return Direction.OUTBOUND, per_rcpt
        return Direction.INTERNAL, per_rcpt
