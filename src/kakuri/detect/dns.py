"""The DNS seam for sender authentication: a small `Resolver` protocol and two implementations.

`DnsResolver` asks real servers through dnspython (the gateway builds one from settings);
`StaticResolver` answers from a table in memory (tests, and offline replays of a mail flow).
`ScanContext.resolver` is None by default, and then nothing is looked up at all.
Every method returns [] for "no such name / no such record" and raises `DnsTempError` when the
answer could not be had (timeout, SERVFAIL), which SPF and DMARC report as temperror.
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol

from pydantic import BaseModel, ConfigDict, Field


class DnsTempError(Exception):
    """The lookup failed for now (timeout, SERVFAIL); the answer is unknown, not empty."""


class Resolver(Protocol):
    def txt(self, name: str) -> list[str]: ...  # each record's strings joined, decoded as UTF-8

    def addresses(self, name: str, family: str = "A") -> list[str]: ...  # "A" or "AAAA"

    def mx(self, name: str) -> list[tuple[int, str]]: ...  # (preference, exchange)

    def ptr(self, name: str) -> list[str]: ...  # name is the full *.arpa name


class DnsResolver:
    """dnspython, with a short timeout: a scan must not wait on a slow DNS server."""

    def __init__(self, nameservers: Iterable[str] = (), port: int = 53, timeout_seconds: float = 3.0) -> None:
        import dns.resolver

        servers = list(nameservers)
        self._resolver = dns.resolver.Resolver(configure=not servers)
        if servers:
            self._resolver.nameservers = servers
        self._resolver.port = port
        self._resolver.lifetime = timeout_seconds

    def _query(self, name: str, rdtype: str) -> list:
        import dns.exception
        import dns.resolver

        try:
            return list(self._resolver.resolve(name, rdtype, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers) as exc:
            if isinstance(exc, dns.resolver.NoNameservers):
                raise DnsTempError(f"{name} {rdtype}: {exc}") from exc
            return []
        except (dns.exception.Timeout, dns.exception.DNSException) as exc:
            raise DnsTempError(f"{name} {rdtype}: {exc}") from exc

    def txt(self, name: str) -> list[str]:
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self._query(name, "TXT")]

    def addresses(self, name: str, family: str = "A") -> list[str]:
        return [r.address for r in self._query(name, family)]

    def mx(self, name: str) -> list[tuple[int, str]]:
        return [(r.preference, r.exchange.to_text(omit_final_dot=True)) for r in self._query(name, "MX")]

    def ptr(self, name: str) -> list[str]:
        return [r.target.to_text(omit_final_dot=True) for r in self._query(name, "PTR")]


class DnsConfig(BaseModel):
    """`[detectors.sender_auth]` in kakuri.toml: live lookups are opt-in (a gateway behind a trusted
    MTA reads its Authentication-Results instead)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error at start-up, not a silent default
    live_dns: bool = False
    nameservers: list[str] = Field(default_factory=list)  # empty: the system's resolv.conf
    port: int = 53
    timeout_seconds: float = 3.0


def build_resolver(options: dict[str, Any]) -> DnsResolver | None:
    """The resolver the scanner should use, from the sender_auth options; None = no lookups."""
    config = DnsConfig.model_validate(options or {})
    if not config.live_dns:
        return None
    return DnsResolver(config.nameservers, port=config.port, timeout_seconds=config.timeout_seconds)


class StaticResolver:
    """Answers from memory: `StaticResolver({"example.test": {"TXT": ["v=spf1 -all"]}})`.

    A name mapped to `DnsTempError` (the class) fails every lookup, to test temperror paths.
    """

    def __init__(self, records: dict[str, dict[str, list] | type[DnsTempError]] | None = None) -> None:
        self.records: dict = {k.lower().rstrip("."): v for k, v in (records or {}).items()}
        self.queries: list[tuple[str, str]] = []  # what was asked, for tests

    def _get(self, name: str, rdtype: str) -> list:
        name = name.lower().rstrip(".")
        self.queries.append((name, rdtype))
        entry = self.records.get(name, {})
        if entry is DnsTempError:
            raise DnsTempError(f"{name} {rdtype}: simulated failure")
        return list(entry.get(rdtype, []))

    def add(self, name: str, rdtype: str, *values) -> None:
        self.records.setdefault(name.lower().rstrip("."), {}).setdefault(rdtype, []).extend(values)

    def txt(self, name: str) -> list[str]:
        return self._get(name, "TXT")

    def addresses(self, name: str, family: str = "A") -> list[str]:
        return self._get(name, family)

    def mx(self, name: str) -> list[tuple[int, str]]:
        return self._get(name, "MX")

    def ptr(self, name: str) -> list[str]:
        return self._get(name, "PTR")
