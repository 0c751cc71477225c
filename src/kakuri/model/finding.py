"""What a detector saw, as data: a symbol name, where, and the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A symbol a detector can emit. Scores live in policy, never here."""

    name: str
    group: str
    description: str


@dataclass(frozen=True, slots=True)
class Finding:
    symbol: str
    detector: str
    part: str | None = None  # PartPath such as "invoice.zip/report.xlsm"; None = the message itself
    evidence: Mapping[str, str] = field(default_factory=dict)
    weight: float = 1.0  # multiplies the policy score (a detector's confidence)

    def as_dict(self) -> dict:
        out: dict = {"symbol": self.symbol, "detector": self.detector, "evidence": dict(self.evidence)}
        if self.part:
            out["part"] = self.part
        if self.weight != 1.0:
            out["weight"] = self.weight
        return out
