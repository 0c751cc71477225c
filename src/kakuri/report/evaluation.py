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
    carriers: dict[tuple[str, str], FamilyFigures] = field(default_factory=dict)  # (label, carrier)

    def add(self, item: LabelledMessage, verdict: Verdict, carrier: str | None = None) -> None:
        flagged = verdict.action in FLAGGED
        ok = flagged == (item.expected_action in ("quarantine", "reject"))
        figures = self.families.setdefault(item.family, FamilyFigures(item.label))
        buckets = [figures]
        if carrier:
            buckets.append(self.carriers.setdefault((item.label, carrier), FamilyFigures(item.label)))
        for bucket in buckets:
            bucket.total += 1
            bucket.as_expected += ok
        if not ok:
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
            # Collections labelled only malicious/benign (real mail sets) expect malicious mail stopped.
            expected_action=entry.get("expected_action") or ("quarantine" if entry["label"] == "malicious" else "deliver"),
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


def per_carrier_rows(evaluation: Evaluation) -> list[tuple[str, str, int, int, float]]:
    order = {name: i for i, name in enumerate(CARRIERS)}
    rows = []
    for (label, carrier), figures in sorted(evaluation.carriers.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        rows.append((label, carrier, figures.as_expected, figures.total, figures.as_expected / figures.total))
    return rows


def group_misses(evaluation: Evaluation) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for family, figures in evaluation.families.items():
        out[family].extend(figures.misses)
    return dict(out)


# What a message carries, for figures per delivery technique (issue: real phishing by carrier). First match wins:
# the most specific attachment decides; a body with links but no such attachment is "link only".
_OFFICE_TYPES = frozenset({"doc", "xls", "ppt", "docx", "xlsx", "pptx", "docm", "xlsm", "pptm", "xlsb", "rtf", "ole"})
_OFFICE_EXTENSIONS = frozenset({"doc", "docx", "docm", "dot", "dotm", "xls", "xlsx", "xlsm", "xlsb", "ppt", "pptx",
                                "pptm", "pps", "ppsx", "rtf", "one"})
_IMAGE_TYPES = frozenset({"png", "jpeg", "gif", "bmp", "webp", "tiff"})
CARRIERS = ("calendar", "html attachment", "pdf", "office", "archive", "image", "other attachment", "link only",
            "no link")


def carrier_of(message) -> str:
    """The delivery technique of a parsed message: which attachment kind, or link only / no link."""
    from kakuri.parse.urls import message_urls
    from kakuri.unpack.filetype import CONTAINER_TYPES

    kinds = set()
    for part in message.parts:
        ext, kind, ctype = part.extension, part.true_type or "", part.content_type.lower()
        if ext in ("ics", "vcs") or ctype == "text/calendar":
            kinds.add("calendar")
        elif ext in ("html", "htm", "shtml", "xhtml", "svg", "mht", "mhtml") or kind in ("html", "svg"):
            kinds.add("html attachment")
        elif ext == "pdf" or kind == "pdf":
            kinds.add("pdf")
        elif ext in _OFFICE_EXTENSIONS or kind in _OFFICE_TYPES:
            kinds.add("office")
        elif kind in CONTAINER_TYPES:
            kinds.add("archive")
        elif kind in _IMAGE_TYPES or ctype.startswith("image/"):
            kinds.add("image")
        elif part.is_attachment:
            kinds.add("other attachment")
    links = bool(message_urls(message))
    if "image" in kinds and links and not part_images_attached(message):
        kinds.discard("image")  # inline logos of a link mail: the link is the lure
    for carrier in CARRIERS[:-2]:
        if carrier in kinds:
            return carrier
    return "link only" if links else "no link"


def part_images_attached(message) -> bool:
    return any(p.is_attachment and (p.content_type.lower().startswith("image/") or (p.true_type or "") in _IMAGE_TYPES)
               for p in message.parts)
