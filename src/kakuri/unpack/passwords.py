"""Candidate archive passwords written in the message itself (body text, rendered HTML, subject).

Threat: Emotet's encrypted zip with "Password: x" in the body, which scanners cannot open unless they
read the body the way the victim does. Technique: find password keywords in any of the languages our
mail arrives in (ja/en/zh/ko/th/vi/id/de/fr/es/pt/nl/it/pl/ru), then take, best first: the token after a separator
("Password: x", "パスワード：x", "PW = x"), the token of "パスワードは x です" / "password is x", quoted
tokens near the keyword (「x」 "x"), the first token of the next line when the keyword ends its line,
every short token shortly after a keyword, and last the tokens just before it on its line ("use x as
password", "x がパスワードです"). The text is read both NFKC-normalised (full-width
"ｐａｓｓ１２３" -> "pass123") and raw, since the zip may hold either form.
Blind spots: passwords in images or attachments, and passwords sent in another mail (a thread-aware
PasswordSource can supply those).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Iterator

from kakuri.model import Envelope, ParsedMessage

# Latin keywords need word boundaries ("bypass", "passport" and "passed" are not keywords).
_LATIN = (r"pass\s?words?|passwd|passcode|pass|pwd|pw|p/w|p\.w\.|kennwort|passwort|mot\s+de\s+passe|contrase[ñn]a|senha"
          r"|m[ậa]t\s+kh[ẩa]u|kata\s+sandi|sandi|wachtwoord|parola|has[łl]o|пароль")
# Scripts without spaces between words (Thai, CJK) cannot use word boundaries.
_CJK = r"解凍用?パスワード|パスワード|ﾊﾟｽﾜｰﾄﾞ|パスワ－ド|暗証番号|解凍キー|解凍コード|パス|密码|密碼|口令|비밀번호|암호|รหัสผ่าน|รหัส"
_KEYWORD = re.compile(rf"(?<![A-Za-z])(?:{_LATIN})(?![A-Za-z0-9])|{_CJK}", re.IGNORECASE)

_SEPARATOR = re.compile(r"[^\S\n]*(?:\([^)\n]{0,20}\)|（[^）\n]{0,20}）)?[^\S\n]*[:：=＝→][^\S\n]*(\S+)")
_IS = re.compile(r"[^\S\n]*(?:は|is|ist|est|es|é)[^\S\n]*[:：]?[^\S\n]*[「『\"“'‘]?([^\s「」『』\"“”'‘’]+)", re.IGNORECASE)
_QUOTED = re.compile(r"[「『\"“'‘【\[<]([^\s「」『』\"“”'‘’【】\[\]<>]{1,64})[」』\"”'’】\]>]")
_TOKEN = re.compile(r"[!-~]{3,40}")  # printable ASCII runs: what people type as a password
_TRAILING = "。、，,.;；:：)）」』】]>\"'”’!！?？"
_LEADING = ":：=＝(（「『【[<\"'“‘"
_ASCII_HEAD = re.compile(r"[!-~]+(?=[^!-~])")  # "abc123です" -> "abc123", "pw1（半角）" -> "pw1"
_COPULA = re.compile(r"(?:です|となります|になります|でございます|となっております)$")
_SENTENCE = re.compile(r"(?:ます|ました|ません|ください|下さい|です|でした|ございます)[。．.!！]?$")  # prose, not a password
_WINDOW = 120  # characters after a keyword searched for quoted and generic tokens
_BEFORE = 40  # characters before a keyword, on its line, searched last
_BEFORE_STOPWORDS = frozenset({"use", "please", "as", "with", "enter", "type", "zip", "the", "archive", "file's"})
_STOPWORDS = frozenset({"is", "the", "for", "file", "zip", "and", "will", "be", "sent", "separately", "in",
                        "a", "an", "of", "your", "this", "mail", "email", "below", "following", "password"})


class BodyPasswords:
    """PasswordSource: candidates from the message's own text, best first, at most `max_candidates`."""

    def __init__(self, max_candidates: int = 40) -> None:
        self.max_candidates = max_candidates

    def passwords(self, message: ParsedMessage, envelope: Envelope | None = None) -> Iterable[str]:
        return harvest_passwords(f"{message.subject}\n{message.body_text}", self.max_candidates)


def harvest_passwords(text: str, limit: int = 40) -> list[str]:
    """Candidate passwords found near password keywords in `text`, best first, without duplicates."""
    normalised = unicodedata.normalize("NFKC", text)
    ranked: list[tuple[int, int, str]] = []
    for variant in (normalised, text) if normalised != text else (text,):
        ranked.extend(_candidates(variant))
    # Passwords are typed in ASCII far more often than not: Japanese phrases caught after a keyword
    # ("パスワードは別メールにて...") go after every ASCII candidate.
    ranked.sort(key=lambda item: (not item[2].isascii(), item[0], item[1]))
    seen: dict[str, None] = {}
    for _rank, _position, candidate in ranked:
        seen.setdefault(candidate, None)
        if len(seen) >= limit:
            break
    return list(seen)


def _candidates(text: str) -> Iterator[tuple[int, int, str]]:
    """(rank, position, candidate): rank 0 is the most explicit form."""
    for match in _KEYWORD.finditer(text):
        end = match.end()
        for rank, pattern in ((0, _SEPARATOR), (1, _IS)):
            found = pattern.match(text, end)
            if found:
                yield from _variants(rank, match.start(), found.group(1))
        window = text[end:end + _WINDOW]
        for quoted in _QUOTED.finditer(window):
            yield from _variants(2, end + quoted.start(), quoted.group(1))
        next_line = _next_line_token(text, end)
        if next_line:
            yield from _variants(3, end, next_line)
        for token in _TOKEN.finditer(window):
            if token.group(0).lower().strip(_TRAILING) not in _STOPWORDS:
                yield from _variants(4, end + token.start(), token.group(0))
        # "Please use Xk92 as password", "Xk92 がパスワードです": the token comes first, on the same line.
        line_start = text.rfind("\n", 0, match.start()) + 1
        before = text[max(line_start, match.start() - _BEFORE):match.start()]
        for token in _TOKEN.finditer(before):
            if token.group(0).lower().strip(_TRAILING) not in _STOPWORDS | _BEFORE_STOPWORDS:
                yield from _variants(5, match.start() - len(before) + token.start(), token.group(0))


def _next_line_token(text: str, end: int) -> str | None:
    """The first token of the next non-empty line, when the keyword's line has nothing after it."""
    line_end = text.find("\n", end)
    if line_end < 0:
        return None
    rest = text[end:line_end].strip()
    # "パスワード", "パスワードは下記の通りです。", "The password is as follows:" all point below.
    if rest and not rest.endswith((":", "：")) and _TOKEN.search(rest):
        return None
    for line in text[line_end + 1:line_end + 200].splitlines():
        words = line.split()
        if words:
            return words[0]
    return None


def _variants(rank: int, position: int, token: str) -> Iterator[tuple[int, int, str]]:
    """The token cut to its ASCII head ("abc123です"), then cleaned of punctuation, then as written."""
    cleaned = token.lstrip(_LEADING).rstrip(_TRAILING)
    head = _ASCII_HEAD.match(cleaned)
    forms = (head.group(0).rstrip(_TRAILING) if head else "", _COPULA.sub("", cleaned), cleaned)
    if rank < 2:  # after "Password:", the token as written may itself end in punctuation
        forms += (token,)
    for candidate in forms:
        if 0 < len(candidate) <= 64 and any(char.isalnum() for char in candidate) and not _SENTENCE.search(candidate):
            yield rank, position, candidate
