"""Detection and false-positive figures of a labelled corpus (layout of ../shared/corpus)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from kakuri.model import Action, Direction, Envelope, Verdict

FLAGGED = {Action.QUARANTINE, Action.REJECT, Action.HOLD}


@dataclass(frozen=True)
class LabelledMessage:
    file: str
    label: str  # "malicious" | "benign"
    family: str
    expected_action: str
    envelope: Envelope
    path: Path


@dataclass
class FamilyFigures:
    label: str
    total: int = 0
    as_expected: int = 0
    misses: list[str] = field(default_factory=list)  # files whose action differs from the expected one


@dataclass
class Evaluation:
    families: dict[str, FamilyFigures] = field(default_factory=dict)

    def add(self, item: LabelledMessage, verdict: Verdict) -> None:
        figures = self.families.setdefault(item.family, FamilyFigures(item.label))
        figures.total += 1
        flagged = verdict.action in FLAGGED
        expected_flag = item.expected_action in ("quarantine", "reject")
        if flagged == expected_flag:
            figures.as_expected += 1
        else:
            figures.misses.append(f"{item.file} ({verdict.action.value} {verdict.score:.1f}: {' '.join(verdict.symbols)})")

    def _sum(self, label: str) -> tuple[int, int]:
        fams = [f for f in self.families.values() if f.label == label]
        return sum(f.as_expected for f in fams), sum(f.total for f in fams)

    @property
    def detection_rate(self) -> float:
        ok, total = self._sum("malicious")
        return ok / total if total else 1.0

    @property
    def false_positive_rate(self) -> float:
        ok, total = self._sum("benign")
        return (total - ok) / total if total else 0.0

    @property
    def false_positives(self) -> int:
        ok, total = self._sum("benign")
        return total - ok


def read_labels(corpus: Path) -> Iterator[LabelledMessage]:
    labels = corpus / "labels.jsonl"
    if not labels.exists():
        raise FileNotFoundError(f"{labels} not found: point at a folder with messages/ and labels.jsonl")
    for line in labels.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        env = entry.get("envelope") or {}
        yield LabelledMessage(
            file=entry["file"],
            label=entry["label"],
            family=entry.get("family", "?"),
            expected_action=entry.get("expected_action", "deliver"),
            envelope=Envelope(
                mail_from=(env.get("mail_from") or "").lower(),
                rcpt_tos=tuple(r.lower() for r in env.get("rcpt_to") or ()),
                client_ip=env.get("client_ip"),
                helo=env.get("helo"),
                direction=Direction(entry.get("direction", "inbound")),
            ),
            path=corpus / entry["file"],
        )


def per_family_rows(evaluation: Evaluation) -> list[tuple[str, str, int, int, float]]:
    rows = []
    for family, figures in sorted(evaluation.families.items(), key=lambda kv: (kv[1].label, kv[0])):
        rate = figures.as_expected / figures.total if figures.total else 1.0
        rows.append((figures.label, family, figures.as_expected, figures.total, rate))
    return rows


def group_misses(evaluation: Evaluation) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for family, figures in evaluation.families.items():
        out[family].extend(figures.misses)
    return dict(out)
