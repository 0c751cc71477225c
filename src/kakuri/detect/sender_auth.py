"""Sender authentication: SPF, DKIM and DMARC (ARC reported where present).

Threat: mail that claims a domain it may not send for, above all one of ours ("from the president"),
and partners' domains in forged invoices.
Technique: behind a trusted MTA, read the topmost `Authentication-Results` whose authserv-id is in
`org.trusted_authserv_ids` (parsed with `authres`; headers of other ids are ignored, anyone can
write them). Otherwise, when `ScanContext.resolver` is set, evaluate ourselves: SPF with `pyspf`
(its lookups go through our resolver), DKIM with `dkimpy` (`dnsfunc` from our resolver), ARC with
`dkim.arc_verify`, and DMARC by hand (no maintained library evaluates it offline): the
`_dmarc` record of the From domain or its organisational domain, with relaxed or strict alignment
of the SPF and DKIM identities. Results are published as facts (`auth.spf`, `auth.dkim`,
`auth.dmarc`, `auth.arc`) so other detectors need not read our symbols.
Emits: AUTH_SPF_FAIL, AUTH_SPF_SOFTFAIL, AUTH_DKIM_FAIL, AUTH_DMARC_FAIL, AUTH_DMARC_FAIL_OUR_DOMAIN.
An SPF failure is not reported when DMARC passes through aligned DKIM (forwarded mail), and DMARC
failures under `p=none` count half. SPF is skipped when the client is inside `org.internal_networks`
(we would be judging our own relay).
Blind spots: no resolver and no trusted header means no findings at all; behind an untrusted relay
the client IP is not the sender's; domains without SPF/DMARC records; ARC is reported but not
trusted (any relay can seal); a trusted MTA must strip incoming headers that carry its authserv-id.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import ClassVar, Iterable

import authres
import dkim
import spf

from kakuri.detect.base import ScanContext
from kakuri.detect.dns import DnsTempError, Resolver
from kakuri.model import Direction, Finding, ParsedMessage, SymbolSpec
from kakuri.parse.domains import registrable_domain

log = logging.getLogger(__name__)
MAX_DKIM_SIGNATURES = 5  # each costs a DNS lookup and an RSA verification


@dataclass(frozen=True, slots=True)
class AuthResults:
    spf: str = "none"  # pass, fail, softfail, neutral, none, temperror, permerror
    spf_domain: str = ""
    dkim: str = "none"  # pass (one signature verified), fail (signed, none verified), none
    dkim_domains: tuple[str, ...] = ()  # d= of the signatures that verified
    dmarc: str = "none"  # pass, fail, none, temperror
    dmarc_policy: str = ""
    arc: str = "none"
    source: str = "local"  # "local" or the trusted authserv-id


class _ResolverQuery(spf.query):
    """pyspf's query with every DNS lookup answered by our resolver instead of its global one."""

    def __init__(self, resolver: Resolver, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resolver = resolver

    def dns(self, name, qtype, cnames=None, ignore_void=False):
        name = str(name).rstrip(".").lower()
        key = (name, qtype)
        if key not in self.cache:
            try:
                self.cache[key] = _lookup(self.resolver, name, qtype)
            except DnsTempError as exc:
                raise spf.TempError(f"DNS {exc}") from exc
        result = self.cache[key]
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result


def _lookup(resolver: Resolver, name: str, qtype: str) -> list:
    if qtype == "TXT":
        return [(txt.encode("utf-8"),) for txt in resolver.txt(name)]
    if qtype in ("A", "AAAA"):
        return resolver.addresses(name, qtype)
    if qtype == "MX":
        return resolver.mx(name)
    if qtype == "PTR":
        return resolver.ptr(name)
    return []  # the obsolete SPF RR type


def check_spf(resolver: Resolver, client_ip: str, mail_from: str, helo: str) -> tuple[str, str]:
    """(result, domain checked); the HELO identity is used for the null sender."""
    sender = mail_from or (f"postmaster@{helo}" if helo else "")
    if not sender or "@" not in sender:
        return "none", ""
    try:
        result, _code, _explanation = _ResolverQuery(resolver, client_ip, sender, helo or "unknown").check()
    except Exception as exc:  # pyspf raises on odd input (bad IP text); treat as an unusable record
        log.debug("SPF evaluation failed: %s", exc)
        result = "permerror"
    return str(result), sender.rpartition("@")[2].lower()


def _dnsfunc(resolver: Resolver):
    def lookup(name, timeout=5):
        name = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            records = resolver.txt(name)
        except DnsTempError:
            return None
        return records[0].encode("utf-8") if records else None

    return lookup


def check_dkim(resolver: Resolver, raw: bytes) -> tuple[str, tuple[str, ...]]:
    """("pass"/"fail"/"none", domains that verified)."""
    try:
        verifier = dkim.DKIM(raw, minkey=1024)
        count = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
    except Exception:  # dkimpy raises on messages it cannot split into headers and body
        return "none", ()
    if not count:
        return "none", ()
    passed = []
    for index in range(min(count, MAX_DKIM_SIGNATURES)):
        try:
            if verifier.verify(idx=index, dnsfunc=_dnsfunc(resolver)):
                passed.append(verifier.domain.decode("ascii", "replace").lower())
        except Exception as exc:  # malformed signature or key: that signature simply fails
            log.debug("DKIM signature %d unusable: %s", index, exc)
    return ("pass" if passed else "fail"), tuple(passed)


def check_arc(resolver: Resolver, raw: bytes) -> str:
    if b"arc-seal:" not in raw[:65536].lower():
        return "none"
    try:
        cv, _results, _reason = dkim.arc_verify(raw, dnsfunc=_dnsfunc(resolver))
        return cv.decode("ascii", "replace").lower() if isinstance(cv, bytes) else str(cv).lower()
    except Exception:
        return "fail"


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for item in record.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            tags[key.strip().lower()] = value.strip()
    return tags


def _aligned(identity: str, from_domain: str, mode: str) -> bool:
    if not identity:
        return False
    if mode == "s":
        return identity == from_domain
    return registrable_domain(identity) == registrable_domain(from_domain) != ""


def check_dmarc(resolver: Resolver, from_domain: str, spf_result: str, spf_domain: str,
                dkim_domains: tuple[str, ...]) -> tuple[str, str]:
    """(result, policy) for the RFC 7489 evaluation of one From domain."""
    if not from_domain:
        return "none", ""
    org = registrable_domain(from_domain)
    try:
        record, subdomain = _dmarc_record(resolver, from_domain), False
        if record is None and org and org != from_domain:
            record, subdomain = _dmarc_record(resolver, org), True
    except DnsTempError:
        return "temperror", ""
    if record is None:
        return "none", ""
    tags = _tags(record)
    policy = (tags.get("sp") if subdomain else None) or tags.get("p", "none")
    spf_ok = spf_result == "pass" and _aligned(spf_domain, from_domain, tags.get("aspf", "r"))
    dkim_ok = any(_aligned(d, from_domain, tags.get("adkim", "r")) for d in dkim_domains)
    return ("pass" if spf_ok or dkim_ok else "fail"), policy.lower()


def _dmarc_record(resolver: Resolver, domain: str) -> str | None:
    records = [r for r in resolver.txt(f"_dmarc.{domain}") if r.strip().lower().startswith("v=dmarc1")]
    return records[0] if len(records) == 1 else None  # several records: as if none (RFC 7489 6.6.3)


def read_trusted_results(message: ParsedMessage, trusted_ids: frozenset[str]) -> AuthResults | None:
    """The topmost Authentication-Results of a trusted authserv-id, as AuthResults; None if absent."""
    for value in message.header_all("Authentication-Results"):
        try:
            header = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {value}")
        except Exception:  # unparsable or forged junk: skip it, never trust it
            continue
        if str(header.authserv_id).lower() not in trusted_ids:
            continue
        found: dict[str, str] = {}
        dkim_domains, spf_domain = [], ""
        for result in header.results:
            method, outcome = str(result.method).lower(), str(result.result).lower()
            props = {f"{p.type}.{p.name}".lower(): str(p.value) for p in result.properties}
            if method == "dkim" and outcome == "pass":
                dkim_domains.append(props.get("header.d", "").lower())
            if method == "spf":
                spf_domain = props.get("smtp.mailfrom", "").rpartition("@")[2].lower()
            if method != "dkim" or outcome == "pass" or "dkim" not in found:
                found[method] = outcome
        return AuthResults(
            spf=found.get("spf", "none"), spf_domain=spf_domain, dkim=found.get("dkim", "none"),
            dkim_domains=tuple(dkim_domains), dmarc=found.get("dmarc", "none"), arc=found.get("arc", "none"),
            source=str(header.authserv_id).lower(),
        )
    return None


def evaluate(message: ParsedMessage, ctx: ScanContext, resolver: Resolver, *, spf: bool = True) -> AuthResults:
    envelope = ctx.envelope
    spf_result, spf_domain = ("none", "")
    if spf and envelope.client_ip:
        spf_result, spf_domain = check_spf(resolver, envelope.client_ip, envelope.mail_from, envelope.helo or "")
    dkim_result, dkim_domains = "none", ()
    if message.header("DKIM-Signature") is not None:  # spare dkimpy's header split on unsigned mail
        dkim_result, dkim_domains = check_dkim(resolver, message.raw)
    from_domain = message.from_addr.rpartition("@")[2].lower()
    dmarc, policy = check_dmarc(resolver, from_domain, spf_result, spf_domain, dkim_domains)
    arc = check_arc(resolver, message.raw)
    return AuthResults(spf_result, spf_domain, dkim_result, dkim_domains, dmarc, policy, arc)


class SenderAuth:
    name: ClassVar[str] = "sender_auth"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("AUTH_SPF_FAIL", "auth", "The sending server is not allowed by the envelope domain's SPF record"),
        SymbolSpec("AUTH_SPF_SOFTFAIL", "auth", "The envelope domain's SPF record soft-fails the sending server"),
        SymbolSpec("AUTH_DKIM_FAIL", "auth", "The message is DKIM-signed but no signature verifies"),
        SymbolSpec("AUTH_DMARC_FAIL", "auth", "The From domain publishes DMARC and the message is not aligned with it"),
        SymbolSpec("AUTH_DMARC_FAIL_OUR_DOMAIN", "auth",
                   "Mail from outside claims one of our domains in From and fails its DMARC"),
    )

    def __init__(self, trusted_authserv_ids: Iterable[str] = (), internal_networks: Iterable[str] = ()) -> None:
        self.trusted_ids = frozenset(i.lower() for i in trusted_authserv_ids)
        self.internal_networks = tuple(ipaddress.ip_network(n, strict=False) for n in internal_networks)

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        if ctx.envelope.direction != Direction.INBOUND:
            return  # our own mail is authenticated by the submission path, not by DNS
        results = read_trusted_results(message, self.trusted_ids) if self.trusted_ids else None
        if results is None and ctx.resolver is not None:
            results = evaluate(message, ctx, ctx.resolver, spf=not self._is_internal(ctx.envelope.client_ip))
        if results is None:
            return
        ctx.facts.update({"auth.spf": results.spf, "auth.dkim": results.dkim, "auth.dkim_domains": results.dkim_domains,
                          "auth.dmarc": results.dmarc, "auth.arc": results.arc})
        yield from self._findings(message, ctx, results)

    def _is_internal(self, client_ip: str | None) -> bool:
        """A hop inside our network: SPF would judge our relay, not the sender."""
        try:
            address = ipaddress.ip_address(client_ip or "")
        except ValueError:
            return False
        return address.is_loopback or any(address in network for network in self.internal_networks)

    def _findings(self, message: ParsedMessage, ctx: ScanContext, r: AuthResults) -> Iterable[Finding]:
        base = {"source": r.source}
        if r.spf in ("fail", "softfail") and r.dmarc != "pass":
            symbol = "AUTH_SPF_FAIL" if r.spf == "fail" else "AUTH_SPF_SOFTFAIL"
            yield Finding(symbol, self.name, evidence={
                **base, "domain": r.spf_domain, "client_ip": ctx.envelope.client_ip or ""})
        if r.dkim == "fail":
            yield Finding("AUTH_DKIM_FAIL", self.name, evidence=base)
        if r.dmarc != "fail":
            return
        from_domain = message.from_addr.rpartition("@")[2].lower()
        evidence = {**base, "from_domain": from_domain, "policy": r.dmarc_policy or "unknown", "arc": r.arc}
        weight = 0.5 if r.dmarc_policy == "none" else 1.0  # the owner itself does not trust its setup yet
        symbol = "AUTH_DMARC_FAIL_OUR_DOMAIN" if ctx.knowledge.is_our_domain(from_domain) else "AUTH_DMARC_FAIL"
        yield Finding(symbol, self.name, evidence=evidence, weight=weight)
