"""Words disguised so that filters and people read different things.

Threat: phishing that writes a brand or a lure word with look-alike letters of another script
("MetaМask" with a Cyrillic М, "Micrоsoft" with a Cyrillic о), letter by letter ("C o i n b a s e"), or
with invisible characters inside the word ("Pay\u200bPal"), so that word lists and brand checks miss it
while the reader sees the real word. Honest writers never need any of this: Russian or Greek text is
written in its own script (no Latin letter inside the word), and the invisible-character padding of
marketing pre-headers stands between words, not inside them.
Emits: OBFUSCATED_MIXED_SCRIPT_HEADER / _BODY, OBFUSCATED_SPACED_LETTERS, OBFUSCATED_INVISIBLE_HEADER / _BODY.
Blind spots: look-alike digits and Latin letters ("PayPa1", "rn" for "m") are left to the brand and
lookalike-domain checks; whole words in another script are not flagged.
"""

from __future__ import annotations

import re
from typing import ClassVar, Iterable

from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, SymbolSpec

# Cyrillic and Greek letters that look like Latin ones (the confusables that matter in Latin words).
_LOOKALIKES = "аеорсухіјѕԁһԛԝАВЕКМНОРСТХІЈЅԜαβειικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
_MIXED = re.compile(r"\b(?=[\w]*[A-Za-z])(?=[\w]*[%s])[\w]{3,}\b" % _LOOKALIKES)
# Five or more single letters separated by single spaces, e.g. "C o i n b a s e".
_SPACED = re.compile(r"(?<!\S)(?:[A-Za-z] ){4,}[A-Za-z](?!\S)")
_INVISIBLE = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u034f\u180e"
_INSIDE_WORD = re.compile(r"\S*[A-Za-z][%s]+[A-Za-z]\S*" % _INVISIBLE)  # the whole word around it
_ANY_DISGUISE = re.compile("[%s%s]" % (_LOOKALIKES, _INVISIBLE))  # cheap pre-check: most mail has none
_BODY_MIN = 2  # one odd word in a long body can be a typo or a pasted name; two are a method
_SAMPLE = 3


class TextObfuscation:
    name: ClassVar[str] = "text_obfuscation"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("OBFUSCATED_MIXED_SCRIPT_HEADER", "obfuscation", "Sender name or subject has words mixing Latin with look-alike Cyrillic/Greek letters"),
        SymbolSpec("OBFUSCATED_MIXED_SCRIPT_BODY", "obfuscation", "Body has several words mixing Latin with look-alike Cyrillic/Greek letters"),
        SymbolSpec("OBFUSCATED_SPACED_LETTERS", "obfuscation", "Sender name or subject spells a word letter by letter"),
        SymbolSpec("OBFUSCATED_INVISIBLE_HEADER", "obfuscation", "Invisible characters inside words of the sender name or subject"),
        SymbolSpec("OBFUSCATED_INVISIBLE_BODY", "obfuscation", "Invisible characters inside several words of the body"),
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        header = f"{message.from_name}\n{message.subject}"
        body = f"{message.text}\n{message.html_text}"
        if spelled := _SPACED.findall(header):
            yield self._finding("OBFUSCATED_SPACED_LETTERS", spelled)
        if _ANY_DISGUISE.search(header):
            yield from self._disguised(header, "HEADER", 1)
        if _ANY_DISGUISE.search(body):
            yield from self._disguised(body, "BODY", _BODY_MIN)

    def _disguised(self, text: str, where: str, minimum: int) -> Iterable[Finding]:
        if len(words := _MIXED.findall(text)) >= minimum:
            yield self._finding(f"OBFUSCATED_MIXED_SCRIPT_{where}", words)
        if len(words := _INSIDE_WORD.findall(text)) >= minimum:
            yield self._finding(f"OBFUSCATED_INVISIBLE_{where}", words)

    def _finding(self, symbol: str, words: list[str]) -> Finding:
        shown = ", ".join(_visible(w) for w in dict.fromkeys(words[:_SAMPLE]))
        return Finding(symbol, self.name, evidence={"words": shown, "count": str(len(words))})


def _visible(word: str) -> str:
    """The word with its disguise shown: foreign letters as U+XXXX, invisible characters as <U+XXXX>."""
    out = []
    for ch in word.strip():
        if ch in _INVISIBLE:
            out.append(f"<U+{ord(ch):04X}>")
        elif ch in _LOOKALIKES:
            out.append(f"[U+{ord(ch):04X}]")
        else:
            out.append(ch)
    return "".join(out)[:60]
