"""scan(raw, envelope) -> Verdict: parse -> unpack -> detect -> decide."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from kakuri.decide.policy import Override
from kakuri.decide.scoring import score_findings
from kakuri.detect.base import Detector, PasswordSource, ScanContext
from kakuri.detect.registry import build_detectors, symbol_catalogue
from kakuri.model import Envelope, Finding, ParsedMessage, Verdict
from kakuri.model.knowledge import Knowledge, StaticKnowledge
from kakuri.parse.mime import parse_message
from kakuri.settings import Settings
from kakuri.unpack.limits import UnpackLimits
from kakuri.unpack.passwords import BodyPasswords
from kakuri.unpack.walker import unpack_message


@dataclass
class ScanResult:
    message: ParsedMessage
    verdict: Verdict
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


class Scanner:
    """Holds what is built once (detectors, rules, knowledge) and scans messages with it.

    Thread-safe for concurrent `scan` calls as long as the detectors are (they hold no per-scan state).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        knowledge: Knowledge | None = None,
        resolver=None,
        password_sources: Iterable[PasswordSource] = (),
        detectors: list[Detector] | None = None,
    ) -> None:
        self.settings = settings
        self.knowledge = knowledge or StaticKnowledge(settings.org.our_domains)
        self.resolver = resolver
        self.password_sources = list(password_sources)
        self.detectors = detectors if detectors is not None else build_detectors(settings)
        self.catalogue = symbol_catalogue(self.detectors)
        self.symbol_groups = {name: spec.group for name, spec in self.catalogue.items()}

    def scan(self, raw: bytes, envelope: Envelope | None = None, overrides: Iterable[Override] = ()) -> ScanResult:
        started = time.perf_counter()
        envelope = envelope or Envelope()
        ctx = ScanContext(
            envelope=envelope,
            knowledge=self.knowledge,
            resolver=self.resolver,
            password_sources=self.password_sources,
        )
        message = parse_message(raw)
        findings: list[Finding] = list(
            unpack_message(message, self.settings.unpack, lambda: self._passwords(message, ctx))
        )
        for detector in self.detectors:
            findings.extend(self._run(detector, message, ctx))
        verdict = score_findings(
            findings,
            self.settings.policy,
            envelope.direction,
            self.symbol_groups,
            extra_overrides=overrides,
            sender=envelope.mail_from.lower(),
            from_addr=message.from_addr,
            client_ip=envelope.client_ip,
        )
        return ScanResult(message=message, verdict=verdict, seconds=time.perf_counter() - started)

    def _run(self, detector: Detector, message: ParsedMessage, ctx: ScanContext) -> list[Finding]:
        try:
            return list(detector.check(message, ctx))
        except Exception as exc:  # one broken detector must not lose the message or the other findings
            return [
                Finding(
                    "DETECTOR_FAILED",
                    detector.name,
                    evidence={"detector": detector.name, "error": f"{type(exc).__name__}: {exc}"[:300]},
                )
            ]

    def _passwords(self, message: ParsedMessage, ctx: ScanContext) -> list[str]:
        seen: dict[str, None] = {}
        for source in ctx.password_sources:
            try:
                for candidate in source.passwords(message, ctx.envelope):
                    seen.setdefault(candidate, None)
            except Exception:  # a broken source (e.g. ledger unavailable) only means fewer candidates
                continue
        return list(seen)


def parse_and_unpack(raw: bytes, limits: UnpackLimits | None = None) -> ParsedMessage:
    """The message's part tree as the scanner sees it (archives opened with the body's passwords), without
    running detectors: for display and indicator extraction. Never raises."""
    message = parse_message(raw)
    try:
        unpack_message(message, limits or UnpackLimits(), lambda: list(BodyPasswords().passwords(message, Envelope())))
    except Exception:  # a display or an IOC list must not fail on what the scan already survived
        pass
    return message
