"""Lure wording: what phishing and fraud mail must say to make the reader act.

Threat: credential phishing ("verify your account", 「本人確認」), account-suspension and payment-failure
scares, fake parcel notices, fake court summons, prize and survey bait, advance-fee ("419"), romance and extortion mail, crypto bait, and
"callback" scams that announce a charge or renewal and give only a phone number to dispute it (no link, so
link and attachment detectors see nothing).
Technique: the subject and the visible body (plain text, rendered HTML; quoted lines dropped; the first few
thousand characters, where a lure puts its ask) are folded (NFKC, Cyrillic/Greek look-alike letters to
Latin, combining overlays and zero-width characters removed) and matched against per-theme, per-language
phrase patterns from `data/lure_phrases.toml` (EN, JA, PT, ES, DE, FR). Each theme that matches is one
finding with the matched phrases as evidence; policy composites combine themes (credentials + urgency,
suspension + a link, ...), since each theme alone also appears in honest mail. Beside the wording: a phone
number with a charge notice and a call-to-cancel but no link (callback), a request to answer at a free-mail
address other than the sender's, the reader's own mail address used as their name in the subject or
greeting, and letters struck through or set in mathematical alphabets to dodge word filters (look-alike
letters of other scripts and invisible characters are `text_obfuscation`'s; the phrase matching folds them).
Emits: LURE_CREDENTIALS, LURE_ACCOUNT_SUSPENDED, LURE_PAYMENT_FAILED, LURE_DELIVERY, LURE_URGENCY,
LURE_PRIZE, LURE_LEGAL_THREAT, LURE_ADVANCE_FEE, LURE_ROMANCE, LURE_EXTORTION, LURE_CRYPTO, LURE_CALLBACK, LURE_REPLY_ELSEWHERE,
LURE_RECIPIENT_AS_NAME, LURE_DECORATED_LETTERS.
Findings for mail from a known correspondent (contact graph, directory, our or partner domains) carry half
weight: an invoice reminder from a supplier uses the same words, and the identity detectors own that case.
Blind spots: languages without patterns; lures drawn as images (left to the attachment/image detectors);
wording paraphrased past the patterns; text only inside attachments.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

import re2

from kakuri.detect.base import ScanContext
from kakuri.model import Finding, ParsedMessage, SymbolSpec
from kakuri.parse.addresses import domain_of
from kakuri.parse.urls import message_urls

MAX_CHARS_PER_BODY = 6_000  # a lure states its ask early; digests and newsletters go on for pages
MAX_PHRASES = 5

# theme in the phrase file -> symbol
THEME_SYMBOLS = {
    "credentials": "LURE_CREDENTIALS",
    "account_suspended": "LURE_ACCOUNT_SUSPENDED",
    "payment_failed": "LURE_PAYMENT_FAILED",
    "delivery": "LURE_DELIVERY",
    "urgency": "LURE_URGENCY",
    "prize": "LURE_PRIZE",
    "advance_fee": "LURE_ADVANCE_FEE",
    "extortion": "LURE_EXTORTION",
    "romance": "LURE_ROMANCE",
    "legal_threat": "LURE_LEGAL_THREAT",
    "crypto": "LURE_CRYPTO",
}
_CALLBACK_THEMES = ("callback_action", "charge_notice")

# Latin look-alikes that filter-dodging mail puts inside English words ("Αirdrοp", "Nеtflix").
_HOMOGLYPHS = {
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "У": "Y", "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
    "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I",
    "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ο": "o", "ν": "v",
    "ι": "i", "α": "a", "ρ": "p",
}
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u034f\u180e"
_FOLD = str.maketrans({**_HOMOGLYPHS, **{c: None for c in _INVISIBLE}})
_COMBINING = re.compile(r"[\u1ab0-\u1aff\u20d0-\u20ff]")
_LATIN_MARKS = re.compile(r"[\u0300-\u036f]")
_SPACES = re.compile(r"\s+")
_QUOTED_LINE = re.compile(r"^[ \t]*(?:>|＞|\|).*$", re.M)

_OVERLAY = re.compile(r"[A-Za-z][\u0334-\u0338\u20d2\u20e5\u0335]")
_MATH_LETTER = re.compile(r"[\U0001d400-\U0001d7ff]")

# Phone numbers as callback scams print them: +country, North American (with separators), Japanese.
_PHONE = re.compile(
    r"(?<![\w.\-/])(?:"
    r"\+\s?\d{1,3}[\s.\-]?\(?\d{1,4}\)?(?:[\s.\-]?\d{2,4}){2,4}"
    r"|(?:1[\s.\-])?\(?[2-9]\d{2}\)?[\s.\-]\d{3}[\s.\-]\d{4}"
    r"|\(\s?[2-9]\d{2}\s?\)\s?\d{3}[\s.\-]?\d{4}"
    r"|0\d{1,4}-\d{1,4}-\d{3,4}"
    r")(?![\w\-/])"
)
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_REPLY_VERB = re.compile(
    r"(?:contact|reply|respond|write|e-?mail|mail|reach|send|get back|revert|responda|escreva|contato|contacte|"
    r"r[ée]pond|[ée]cri|kontakt|schreib|antwort|連絡|返信|メール)",
    re.I,
)
_GREETING = re.compile(
    r"(?<!\w)(?:dear|hello|hi|hey|attention|attn|ol[áa]|oi|prezad[oa]|car[oa]|estimad[oa]|hola|hallo|liebe[r]?|"
    r"sehr geehrte[r]?|bonjour|cher|ch[èe]re|beste)\b[\s,:]*",
    re.I,
)


@dataclass(frozen=True, slots=True)
class LurePhrases:
    """Compiled phrase patterns: theme -> one alternation over every language.

    RE2 rather than `re`: a theme is an alternation of dozens of phrases, which Python's backtracking
    engine tries one by one at every position (17 ms a message); RE2 runs it as one automaton (0.3 ms).
    RE2's `\\b` and `\\w` are ASCII, so patterns and text are both folded without accents first.
    """

    themes: Mapping[str, Any]

    @classmethod
    def load(cls, *extra: Path) -> LurePhrases:
        documents = [tomllib.loads(resources.files("kakuri.data").joinpath("lure_phrases.toml").read_text("utf-8"))]
        documents += [tomllib.loads(path.read_text("utf-8")) for path in extra if path.is_file()]
        patterns: dict[str, list[str]] = {}
        for document in documents:
            for theme, languages in document.get("themes", {}).items():
                for phrases in languages.values():
                    patterns.setdefault(theme, []).extend(strip_accents(p) for p in phrases)
        options = re2.Options()
        options.case_sensitive = False
        options.max_mem = 32 << 20
        return cls({theme: re2.compile("|".join(f"(?:{p})" for p in items), options) for theme, items in patterns.items()})

    def find(self, text: str) -> dict[str, list[str]]:
        """theme -> distinct matched phrases (at most MAX_PHRASES) in folded text, for the themes that matched."""
        found: dict[str, list[str]] = {}
        for theme, pattern in self.themes.items():
            phrases: list[str] = []
            for match in pattern.finditer(text):
                phrase = match.group(0).strip()
                if phrase and phrase not in phrases:
                    phrases.append(phrase)
                    if len(phrases) >= MAX_PHRASES:
                        break
            if phrases:
                found[theme] = phrases
        return found


def strip_accents(text: str) -> str:
    """Latin diacritics removed (é -> e, ç -> c); kana voicing marks kept (NFC recomposes が)."""
    return unicodedata.normalize("NFC", _LATIN_MARKS.sub("", unicodedata.normalize("NFKD", text)))


def fold_text(text: str) -> str:
    """NFKC, look-alike letters to Latin, accents, overlays and invisible characters removed, spaces collapsed."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_FOLD)
        text = strip_accents(_COMBINING.sub("", text))
    return _SPACES.sub(" ", text)


def visible_text(message: ParsedMessage) -> str:
    """Subject and the start of each body, without quoted lines (a reply quotes, a lure asks)."""
    bodies = [_QUOTED_LINE.sub("", body)[:MAX_CHARS_PER_BODY] for body in (message.text, message.html_text) if body]
    return "\n".join([message.subject, *bodies])


def find_phones(text: str) -> list[str]:
    phones = []
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 9 <= len(digits) <= 15 and len(set(digits)) > 2 and match.group(0) not in phones:
            phones.append(match.group(0).strip())
    return phones


class LureText:
    name: ClassVar[str] = "lure_text"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("LURE_CREDENTIALS", "lure", "Asks the reader to sign in, verify or re-enter account or card data"),
        SymbolSpec("LURE_ACCOUNT_SUSPENDED", "lure", "Says an account or card is locked, restricted or misused"),
        SymbolSpec("LURE_PAYMENT_FAILED", "lure", "Says a payment failed or a subscription lapsed; billing data wanted"),
        SymbolSpec("LURE_DELIVERY", "lure", "Says a parcel is held, undeliverable or waits for a fee or address"),
        SymbolSpec("LURE_URGENCY", "lure", "A deadline or threat of loss (within 24 hours, final notice, 至急)"),
        SymbolSpec("LURE_PRIZE", "lure", "Says the reader won or was selected, or offers a reward for a survey"),
        SymbolSpec("LURE_ADVANCE_FEE", "lure", "Advance-fee bait: millions to transfer, inheritances, proposals"),
        SymbolSpec("LURE_LEGAL_THREAT", "lure", "A court, police or tax 'notice' the reader must open to learn the charge"),
        SymbolSpec("LURE_ROMANCE", "lure", "A stranger offering company and photos (romance scam opener)"),
        SymbolSpec("LURE_EXTORTION", "lure", "Claims recordings or control of the reader's device, wants crypto"),
        SymbolSpec("LURE_CRYPTO", "lure", "Crypto-asset bait: airdrops, wallet connection, seed phrases"),
        SymbolSpec(
            "LURE_CALLBACK",
            "lure_trick",
            "A charge, renewal or order notice whose only way to dispute it is a phone number (no link)",
        ),
        SymbolSpec(
            "LURE_REPLY_ELSEWHERE",
            "lure_trick",
            "Asks for the answer at a free-mail address other than the sender's",
        ),
        SymbolSpec(
            "LURE_RECIPIENT_AS_NAME",
            "lure_trick",
            "The subject or greeting addresses the reader by their mail address instead of a name",
        ),
        SymbolSpec(
            "LURE_DECORATED_LETTERS",
            "lure_trick",
            "Letters struck through, or set in a mathematical alphabet in the subject, so word filters miss them",
        ),
    )

    def __init__(self, phrases: LurePhrases | None = None, freemail: frozenset[str] | None = None) -> None:
        self.phrases = phrases or LurePhrases.load()
        self.freemail = freemail if freemail is not None else load_freemail()

    @classmethod
    def from_folder(cls, rules: Path) -> LureText:
        """Stock phrases and free-mail domains plus the operator's `lure_phrases.toml` / `freemail.txt` in `rules`."""
        return cls(LurePhrases.load(rules / "lure_phrases.toml"), load_freemail(rules / "freemail.txt"))

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        raw_text = visible_text(message)
        text = fold_text(raw_text)
        weight = 0.5 if is_known_correspondent(message.from_addr, ctx) else 1.0
        themes = self.phrases.find(text)
        if "advance_fee" in themes and "money_sum" in themes:
            themes["advance_fee"] = themes["money_sum"][:2] + themes["advance_fee"]
        for theme, symbol in THEME_SYMBOLS.items():
            if theme in themes:
                yield Finding(symbol, self.name, evidence={"phrases": " | ".join(themes[theme])[:300]}, weight=weight)
        callback = self._callback(message, text, themes)
        if callback:
            yield Finding("LURE_CALLBACK", self.name, evidence=callback, weight=weight)
        elsewhere = self._reply_elsewhere(message, text)
        if elsewhere:
            yield Finding("LURE_REPLY_ELSEWHERE", self.name, evidence=elsewhere, weight=weight)
        as_name = _recipient_as_name(message, text)
        if as_name:
            yield Finding("LURE_RECIPIENT_AS_NAME", self.name, evidence=as_name, weight=weight)
        decorated = _decorated_letters(message, raw_text)
        if decorated:
            yield Finding("LURE_DECORATED_LETTERS", self.name, evidence=decorated, weight=weight)

    def _callback(self, message: ParsedMessage, text: str, themes: dict[str, list[str]]) -> dict[str, str] | None:
        if not all(theme in themes for theme in _CALLBACK_THEMES):
            return None
        if any(url.url.lower().startswith(("http", "www")) for url in message_urls(message)):
            return None  # with a link to click it is a link lure, scored by the link detectors
        phones = find_phones(text)
        if not phones:
            return None
        return {
            "phone": ", ".join(phones[:3]),
            "action": " | ".join(themes["callback_action"][:3])[:200],
            "charge": " | ".join(themes["charge_notice"][:3])[:200],
        }

    def _reply_elsewhere(self, message: ParsedMessage, text: str) -> dict[str, str] | None:
        if "@" not in text:
            return None
        sender_domain = domain_of(message.from_addr) if message.from_addr else ""
        for match in _EMAIL.finditer(text):
            address = match.group(0).lower().rstrip(".")
            domain = domain_of(address)
            if domain not in self.freemail or address == message.from_addr or domain == sender_domain:
                continue
            before = text[max(0, match.start() - 80):match.start()]
            if "<" in before[-3:] or re.search(r"(?:from|de|von|to|para|cc|an|enviado)\s*:", before[-60:], re.I):
                continue  # an address inside forwarded or quoted headers, not an instruction
            if _REPLY_VERB.search(before):
                return {"address": address, "context": before[-60:].strip()[:80]}
        return None


def _recipient_as_name(message: ParsedMessage, text: str) -> dict[str, str] | None:
    lowered = text.lower()
    subject = fold_text(message.subject).lower()
    head = lowered[len(subject):len(subject) + 300]
    for _, address in message.to:
        if not address or "@" not in address:
            continue
        local = address.split("@", 1)[0]
        if address in subject and len(subject) > len(address) + 5:
            return {"address": address, "where": "subject"}
        greeting = _GREETING.search(head)
        if greeting and (address in head[greeting.end():greeting.end() + 60]):
            return {"address": address, "where": "greeting"}
        if len(local) >= 5 and re.search(r"[._\d]", local) and greeting:
            near = head[greeting.end():greeting.end() + 40]
            alone = _standalone(local)
            if alone.search(near) or alone.search(subject):
                return {"address": address, "where": "greeting"}
    return None


@functools.lru_cache(maxsize=8192)
def _standalone(local: str) -> re.Pattern:
    """The local part as a word of its own. Cached per local part: an organisation's recipients are a
    bounded set, and re's own cache (512 patterns) was recompiling one per message (0.3 ms each)."""
    return re.compile(rf"(?<![\w.]){re.escape(local)}(?![\w@])")


def _decorated_letters(message: ParsedMessage, raw_text: str) -> dict[str, str] | None:
    """Struck-through letters anywhere, or mathematical-alphabet letters in the subject or sender name.

    Look-alike letters of other scripts and invisible characters inside words are detect/text_obfuscation's."""
    if raw_text.isascii() and message.from_name.isascii():
        return None
    evidence: dict[str, str] = {}
    overlays = _OVERLAY.findall(message.from_name + "\n" + raw_text)
    if len(overlays) >= 2:
        evidence["struck_letters"] = str(len(overlays))
    styled = _MATH_LETTER.findall(message.subject + message.from_name)
    if len(styled) >= 3:
        evidence["styled_letters_in_subject"] = str(len(styled))
    return evidence or None


def is_known_correspondent(address: str, ctx: ScanContext) -> bool:
    if not address:
        return False
    knowledge = ctx.knowledge
    domain = domain_of(address)
    return (
        knowledge.is_known_contact(address)
        or knowledge.person_at(address) is not None
        or knowledge.is_our_domain(domain)
        or knowledge.is_partner_domain(domain)
    )


def load_freemail(*extra: Path) -> frozenset[str]:
    texts = [resources.files("kakuri.data").joinpath("freemail.txt").read_text("utf-8")]
    texts += [path.read_text("utf-8") for path in extra if path.is_file()]
    return frozenset(
        line.strip().lower() for text in texts for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
