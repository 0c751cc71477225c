"""The contract every detector follows, and what it may see while it runs.

Detectors are synchronous: everything they do is CPU-bound (parsing, oletools, YARA), and the
gateway runs whole scans in worker threads/processes, so an async signature would only add overhead.
A detector never chooses an action, writes headers, touches a database or reads global settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Protocol

from kakuri.model import Envelope, Finding, ParsedMessage, SymbolSpec
from kakuri.model.knowledge import Knowledge, StaticKnowledge


class PasswordSource(Protocol):
    """Candidate passwords for encrypted archives of a message (its body, its thread, ...)."""

    def passwords(self, message: ParsedMessage, envelope: Envelope) -> Iterable[str]: ...


@dataclass
class ScanContext:
    envelope: Envelope = field(default_factory=Envelope)
    knowledge: Knowledge = field(default_factory=StaticKnowledge)
    resolver: Any = None  # DNS seam for sender authentication; None = no lookups
    clock: Callable[[], float] = time.time
    password_sources: list[PasswordSource] = field(default_factory=list)
    # Facts one stage publishes for later ones (e.g. "auth.dmarc" = "fail"), so detectors do not
    # have to match each other's symbol names.
    facts: dict[str, Any] = field(default_factory=dict)


class Detector(Protocol):
    name: ClassVar[str]  # module name = config key = log field
    symbols: ClassVar[tuple[SymbolSpec, ...]]

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]: ...
