"""Composition root: builds the scanner and its collaborators from Settings. No globals."""

from __future__ import annotations

from kakuri.pipeline import Scanner
from kakuri.settings import Settings


def build_scanner(settings: Settings, *, knowledge=None, resolver=None) -> Scanner:
    """The scanner the CLI and the gateway use: stock detectors, body passwords, stored knowledge."""
    sources = []
    try:
        from kakuri.unpack.passwords import BodyPasswords

        sources.append(BodyPasswords())
    except ImportError:  # unpack stage not present yet in this build
        pass
    if resolver is None:  # live DNS for SPF/DKIM/DMARC only when [detectors.sender_auth] live_dns = true
        from kakuri.detect.dns import build_resolver

        resolver = build_resolver(settings.detectors.get("sender_auth", {}))
    return Scanner(settings, knowledge=knowledge, resolver=resolver, password_sources=sources)


def build_scanner_from_home(settings: Settings) -> Scanner:
    """A scanner with the knowledge stored in the data folder (directory, ledger), if any."""
    return build_scanner(settings)
