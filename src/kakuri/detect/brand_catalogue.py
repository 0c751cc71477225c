"""The brands phishing imitates: their names, the tokens of lookalike hosts, and the domains they own.

Read from `kakuri/data/brands.toml` plus the operator's `<home>/rules/brands/*.toml` (same layout; a
brand named in both has its lists merged). Names are matched on the text's homoglyph skeleton
(`detect.lookalike.skeleton`: NFKC, then 0/o, 1/l, rn/m, Cyrillic and mathematical letters folded) with
invisible format characters removed, so `PayPaI`, `𝐏𝐚𝐲𝐏𝐚𝐥` and `P\u200da\u200dypal` are PayPal;
Latin names only as whole words, so `Appleton` is not Apple.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from confusable_homoglyphs import confusables

from kakuri.detect.lookalike import skeleton
from kakuri.parse.domains import registrable_domain, split_domain

LONG_TOKEN = 6  # host tokens this long also match inside a label (`paypalsecure`); shorter ones only whole


class BrandDataError(ValueError):
    """A brand file cannot be used; the message names the file and the brand."""


@dataclass
class Brand:
    key: str
    names: list[str] = field(default_factory=list)
    exact_case: list[str] = field(default_factory=list)
    host_tokens: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)


RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost"})


@dataclass(frozen=True, slots=True)
class HostClaim:
    brand: str
    token: str
    technique: str  # "brand-domain-in-subdomain" or "brand-name-in-host"


class BrandCatalogue:
    def __init__(self, brands: dict[str, Brand], shared_mail_domains: set[str]) -> None:
        self.brands = brands
        self.shared_mail_domains = frozenset(shared_mail_domains)
        self._by_name: dict[str, str] = {}
        self._by_exact: dict[str, str] = {}
        self._long_tokens: dict[str, str] = {}
        self._short_tokens: dict[str, str] = {}
        self._by_domain: dict[str, str] = {}
        self._by_label: dict[str, str] = {}  # "docusign" of docusign.com, for names under reserved TLDs
        for brand in brands.values():
            for name in brand.names:
                self._by_name.setdefault(skeleton(_plain(name)), brand.key)
            for name in brand.exact_case:
                self._by_exact.setdefault(_plain(name), brand.key)
            for token in brand.host_tokens:
                target = self._long_tokens if len(token) >= LONG_TOKEN or "-" in token else self._short_tokens
                target.setdefault(skeleton(token.lower()), brand.key)
            for domain in brand.domains:
                self._by_domain.setdefault(domain.lower(), brand.key)
                self._by_label.setdefault(split_domain(domain.lower())[1], brand.key)
        self._names = _alternation(self._by_name, ignore_case=True)
        self._exact = _alternation(self._by_exact, ignore_case=False)
        self._collapsed = {_collapse(n): key for n, key in self._by_name.items()}
        self._long = re.compile("|".join(re.escape(t) for t in sorted(self._long_tokens, key=len, reverse=True))
                                or r"(?!)")
        self.host_claim = lru_cache(maxsize=8192)(self._host_claim)

    def claims(self, text: str) -> list[tuple[str, str]]:
        """(brand key, the name as matched) for every brand named in `text`, first mention first."""
        if not text:
            return []
        found: dict[str, str] = {}
        plain = _plain(text)
        for match in self._names.finditer(skeleton(plain)):
            brand = self._collapsed.get(_collapse(match.group(1)))
            if brand:
                found.setdefault(brand, match.group(1))
        for match in self._exact.finditer(plain):
            found.setdefault(self._by_exact[match.group(1)], match.group(1))
        return list(found.items())

    def owns(self, brand: str, host: str) -> bool:
        """The host is under one of the brand's domains, and not a mailbox anyone can open there."""
        host = host.lower().rstrip(".")
        if not host or registrable_domain(host) in self.shared_mail_domains:
            return False
        if any(host == d or host.endswith("." + d) for d in self.brands[brand].domains):
            return True
        return host.rpartition(".")[2] in RESERVED_TLDS and self.owner(host) == brand

    def owner(self, host: str) -> str | None:
        """The brand owning `host`, if any (shared mail domains excluded)."""
        host = host.lower().rstrip(".")
        if registrable_domain(host) in self.shared_mail_domains:
            return None
        labels = host.split(".")
        for start in range(len(labels) - 1):
            brand = self._by_domain.get(".".join(labels[start:]))
            if brand:
                return brand
        if labels[-1] in RESERVED_TLDS and len(labels) >= 2:
            # RFC 2606/6761 names stand for the brand's real domain in test and documentation mail
            # (docusign.example); nobody can register one to impersonate the brand.
            return self._by_label.get(labels[-2])
        return None

    def _host_claim(self, host: str) -> HostClaim | None:
        """A brand whose domain or name a host borrows while the brand does not own it."""
        if self.owner(host) or registrable_domain(host) in self.shared_mail_domains:
            return None
        subdomain, label, _ = split_domain(host)
        if not label:
            return None
        sub_labels = subdomain.split(".") if subdomain else []
        for start in range(len(sub_labels)):
            for end in range(start + 2, len(sub_labels) + 1):
                brand = self._by_domain.get(".".join(sub_labels[start:end]))
                if brand:
                    return HostClaim(brand, ".".join(sub_labels[start:end]), "brand-domain-in-subdomain")
        for part in [*sub_labels, label]:
            shape = skeleton(part)
            match = self._long.search(shape)
            if match:
                return HostClaim(self._long_tokens[match.group(0)], match.group(0), "brand-name-in-host")
            for piece in re.split(r"[-_]", shape):
                brand = self._short_tokens.get(piece)
                if brand:
                    return HostClaim(brand, piece, "brand-name-in-host")
        return None


def _plain(text: str) -> str:
    """NFKC, invisible format characters (zero-width joiners, bidi marks) removed, and Greek or Cyrillic
    capitals that look Latin folded before `skeleton` lower-cases them (`Μ` is M, but its `μ` is not)."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    return "".join(_fold_capital(c) for c in text if unicodedata.category(c) != "Cf")


@lru_cache(maxsize=4096)
def _fold_capital(char: str) -> str:
    if char.isascii() or not char.isupper():
        return char
    for entry in confusables.is_confusable(char, preferred_aliases=["latin"], greedy=True) or []:
        for glyph in entry["homoglyphs"]:
            if glyph["c"].isascii() and glyph["c"].isalpha():
                return glyph["c"]
    return char


def _collapse(name: str) -> str:
    return _SEPARATORS.sub("", name)


_SEPARATORS = re.compile(r"[\s._-]+")


def _alternation(names: dict[str, str], ignore_case: bool) -> re.Pattern[str]:
    if not names:
        return re.compile(r"(?!)")
    body = "|".join(re.escape(n).replace(r"\ ", r"[\s._-]?") for n in sorted(names, key=len, reverse=True))
    # Whole words for Latin names; CJK text has no spaces, so a Japanese name matches anywhere.
    return re.compile(rf"(?<![A-Za-z0-9])({body})(?![A-Za-z0-9])", re.IGNORECASE if ignore_case else 0)


def load_brands(operator_folder: Path | None = None) -> BrandCatalogue:
    stock = resources.files("kakuri") / "data" / "brands.toml"
    files = [("kakuri/data/brands.toml", stock.read_text(encoding="utf-8"))]
    if operator_folder is not None and operator_folder.is_dir():
        files += [(str(p), p.read_text(encoding="utf-8")) for p in sorted(operator_folder.glob("*.toml"))]
    brands: dict[str, Brand] = {}
    shared: set[str] = set()
    for name, text in files:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise BrandDataError(f"{name}: {exc}. Fix the TOML syntax.") from exc
        shared.update(d.lower() for d in data.get("shared_mail_domains", []))
        for key, body in (data.get("brands") or {}).items():
            brand = brands.setdefault(key, Brand(key))
            for attr in ("names", "exact_case", "host_tokens", "domains"):
                values = body.get(attr, [])
                if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
                    raise BrandDataError(f"{name}: brands.{key}.{attr} must be a list of non-empty strings.")
                getattr(brand, attr).extend(v.strip() for v in values)
            if not brand.domains:
                raise BrandDataError(f"{name}: brands.{key} has no domains; name at least one the brand owns.")
    return BrandCatalogue(brands, shared)
