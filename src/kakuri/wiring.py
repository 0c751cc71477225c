"""Composition root: builds the scanner and its collaborators from Settings. No globals."""

from __future__ import annotations

from kakuri.detect.dns import build_resolver
from kakuri.pipeline import Scanner
from kakuri.settings import Settings
from kakuri.store.knowledge import KnowledgeStore, load_knowledge
from kakuri.store.thread_passwords import ThreadPasswords
from kakuri.unpack.passwords import BodyPasswords


def build_scanner(settings: Settings, *, knowledge=None, resolver=None) -> Scanner:
    """The scanner the CLI and the gateway use: stock detectors, body (and thread) passwords.

    `knowledge` is the organisation's directory and mail ledger (None: our domains only).
    """
    sources = [BodyPasswords()]
    if isinstance(knowledge, KnowledgeStore):
        sources.append(ThreadPasswords(knowledge))
    if resolver is None:  # live DNS for SPF/DKIM/DMARC only when [detectors.sender_auth] live_dns = true
        resolver = build_resolver(settings.detectors.get("sender_auth", {}))
    return Scanner(settings, knowledge=knowledge, resolver=resolver, password_sources=sources)


def build_scanner_from_home(settings: Settings, *, engine=None) -> Scanner:
    """A scanner with the knowledge stored in the data folder (directory, ledger, contact graph)."""
    return build_scanner(settings, knowledge=load_knowledge(settings, engine=engine))
