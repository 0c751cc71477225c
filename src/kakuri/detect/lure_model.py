"""A small learned second opinion on lure wording, for the phrasings the pattern list does not name.

Threat: the same as detect/lure_text (credential, payment, parcel, prize and fraud lures, and the bulk
scam mail around them), written in words no pattern anticipated.
Technique: logistic regression over the presence of words and word pairs of the *content* only: subject
and visible body (quoted lines, URLs, mail addresses, digits, bulk-mail furniture such as "unsubscribe" and
the recipient's own name removed), folded
like detect/lure_text. Never headers, mailers, dates or HTML-vs-text shape: the benign development mail
is from 2002 and the phishing from 2023-24, and those would teach the era instead of the attack. The
weights are trained by `scripts/train_lure_model.py` on the development set only (`/work/realdev`,
fixed seed) and shipped as `data/lure_model.json`; the finding names the words that weighed most.
It abstains on mail that does not read as English (the benign development mail is all English, so any other
language, Japanese included, would look like phishing to it: no opinion beats a wrong one) and on mail from known correspondents (contact graph, directory, our or partner domains), so
it can never be the reason a known correspondent's mail is quarantined.
Emits: LURE_MODEL (probability >= threshold in the model file).
Blind spots: vocabulary of the 2023-24 honeypot mail; it leans on commercial wording, so policy scores it
as corroboration of a lure theme, not alone.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar, Iterable, Mapping

from kakuri.detect.base import ScanContext
from kakuri.detect.lure_text import fold_text, is_known_correspondent, visible_text
from kakuri.model import Finding, ParsedMessage, SymbolSpec

MAX_CHARS = 4_000
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_EMAIL = re.compile(r"\S+@\S+")
_WORD = re.compile(r"[a-z]{2,20}")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
MIN_WORDS = 8
# The model was trained on English only (the benign development mail is all English, so any other language
# would read as "phishing" to it); it abstains unless the text reads as English.
_ENGLISH = frozenset(
    "the and to of you your is for in on this that we our with be are it have please will not if at by from".split()
)
MIN_ENGLISH_SHARE = 0.12
# Bulk-mail furniture that honest newsletters share with spam: the model must judge what a mail asks,
# not that it was sent in bulk.
_BOILERPLATE = frozenset(
    "unsubscribe subscribe subscribed subscription newsletter click here email emails mail mailing list "
    "privacy policy rights reserved copyright view browser online version preferences opt out remove "
    "removed receive receiving".split()
) | frozenset(  # dates say when, not what (and the development sets differ by twenty years)
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august september "
    "october november december mon tue wed thu fri sat sun monday tuesday wednesday thursday friday saturday "
    "sunday".split()
)


def content_features(message: ParsedMessage) -> set[str] | None:
    """Words and word pairs of the subject and visible body; None when the model should abstain."""
    text = visible_text(message)[:MAX_CHARS * 2]
    if len(_CJK.findall(text)) > 0.1 * max(1, len(text.strip())):
        return None
    text = fold_text(_EMAIL.sub(" ", _URL.sub(" ", text))).lower()
    own_names = _recipient_name_words(message)
    words = [w for w in _WORD.findall(text) if w not in own_names]
    if len(words) < MIN_WORDS or sum(w in _ENGLISH for w in words) < MIN_ENGLISH_SHARE * len(words):
        return None
    words = [w for w in words if w not in _BOILERPLATE]
    features = set(words)
    features.update(f"{a} {b}" for a, b in zip(words, words[1:]))
    return features


def _recipient_name_words(message: ParsedMessage) -> set[str]:
    """The reader's own name and mailbox words: who the mail is for says nothing about what it is."""
    words: set[str] = set()
    for name, address in message.to:
        words.update(_WORD.findall(fold_text(name).lower()))
        words.update(_WORD.findall(address.split("@", 1)[0].lower()))
    return words


@dataclass(frozen=True, slots=True)
class LureModel:
    bias: float
    weights: Mapping[str, float]
    threshold: float

    @classmethod
    def load(cls) -> LureModel:
        data = json.loads(resources.files("kakuri.data").joinpath("lure_model.json").read_text("utf-8"))
        return cls(float(data["bias"]), dict(data["weights"]), float(data["threshold"]))

    def probability(self, features: Iterable[str]) -> tuple[float, list[tuple[str, float]]]:
        """P(lure) and the features that pushed towards it, strongest first."""
        contributions = [(f, self.weights[f]) for f in features if f in self.weights]
        z = self.bias + sum(w for _, w in contributions)
        p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        return p, sorted((c for c in contributions if c[1] > 0), key=lambda c: -c[1])


class LureModelDetector:
    name: ClassVar[str] = "lure_model"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec(
            "LURE_MODEL",
            "lure_model",
            "The learned lure-wording model rates the subject and body as phishing or scam (top words in evidence)",
        ),
    )

    def __init__(self, model: LureModel | None = None) -> None:
        self.model = model or LureModel.load()

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        if is_known_correspondent(message.from_addr, ctx):
            return
        features = content_features(message)
        if features is None:
            return
        p, top = self.model.probability(features)
        if p >= self.model.threshold:
            yield Finding(
                "LURE_MODEL",
                self.name,
                evidence={"probability": f"{p:.3f}", "top_features": ", ".join(f for f, _ in top[:6])},
            )
