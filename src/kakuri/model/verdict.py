"""The decision about one message and why it was taken."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kakuri.model.finding import Finding


class Action(StrEnum):
    DELIVER = "deliver"
    TAG = "tag"  # deliver with X-Kakuri headers and a subject tag
    QUARANTINE = "quarantine"
    REJECT = "reject"
    HOLD = "hold"  # kept by an emergency policy, released or bounced in bulk later

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Action.DELIVER: 0, Action.TAG: 1, Action.HOLD: 2, Action.QUARANTINE: 3, Action.REJECT: 4}


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    score: float
    findings: tuple[Finding, ...] = ()
    reasons: tuple[str, ...] = ()  # e.g. "score 12.5 >= quarantine 10", "override: emergency.archives"
    symbol_scores: dict[str, float] = field(default_factory=dict)

    @property
    def symbols(self) -> list[str]:
        return sorted({f.symbol for f in self.findings})

    def as_dict(self) -> dict:
        return {
            "action": self.action.value,
            "score": round(self.score, 2),
            "symbols": self.symbols,
            "reasons": list(self.reasons),
            "findings": [f.as_dict() for f in self.findings],
        }
