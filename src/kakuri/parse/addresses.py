"""Addresses and display names, normalised so that people can be compared across spellings.

- `mailboxes_from_raw` reads address headers the way a mail client shows them: the address
  structure is parsed *before* RFC 2047 words are decoded, so an encoded display name that contains
  `<partner@example>` cannot pass for the real address (an Emotet habit).
- `name_keys` turns a display name or a directory name into comparison keys: NFKC (full-width ->
  half-width), case-folded, honorifics and bracketed company notes removed, spacing and name order
  made irrelevant, romaji long vowels folded (Satou/Satoh/Sato, Oono/Ohno/Ono).
- `registrable_domain` is the organisation part of a host name (tldextract with its bundled suffix
  list, no network); the reserved documentation names of RFC 2606/6761 count as public suffixes so
  that `a.example.net` and `b.example.net` are different organisations, as they would be in real life.

Hand-written because no library does Japanese name normalisation for mail; everything else here is
stdlib, tldextract or rapidfuzz (used by the detectors on these keys).
"""

from __future__ import annotations

import re
import unicodedata
from email.utils import getaddresses
from functools import lru_cache

from kakuri.parse import domains
from kakuri.parse.mime import decode_words

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'=!#$&*/?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Honorifics and role words that people add around a name; they never identify anyone.
_HONORIFICS = re.compile(
    r"((様|さま|サマ|さん|殿|どの|先生|氏|くん)(?=\s|$)|\b(sama|san|dono|mr|mrs|ms|miss|dr)\b\.?)",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"[(\[{<【「『〈《].*?[)\]}>】」』〉》]")
_BRACKET_CHARS = re.compile(r"[()\[\]{}<>【】「」『』〈〉《》]")
_SEPARATORS = re.compile(r"[\s,.;:/|\\_・･·\"'`’-]+")
_LATIN = re.compile(r"^[a-z]+$")


def domain_of(address: str) -> str:
    """The domain of an addr-spec, lower case, without a trailing dot; "" when there is none."""
    _, at, domain = (address or "").rpartition("@")
    return domain.strip().strip(">").rstrip(".").lower() if at else ""


@lru_cache(maxsize=65_536)
def registrable_domain(domain: str) -> str:
    """`mail.sub.partner.co.jp` -> `partner.co.jp`; an IP literal or a bare name is returned as is."""
    domain = (domain or "").strip().rstrip(".").lower()
    if not domain or "." not in domain:
        return domain
    return domains.registrable_domain(domain) or domain


def organisation_of(address: str) -> str:
    return registrable_domain(domain_of(address))


# Mailbox providers where two addresses of one domain say nothing about one organisation (Japanese
# carriers and ISPs included, since small partners often use them).
SHARED_MAIL_PROVIDERS = frozenset(
    """gmail.com googlemail.com yahoo.com yahoo.co.jp ymail.com outlook.com outlook.jp hotmail.com hotmail.co.jp
    live.com live.jp msn.com icloud.com me.com mac.com aol.com gmx.net gmx.de web.de mail.ru yandex.ru qq.com
    163.com 126.com naver.com protonmail.com proton.me zoho.com docomo.ne.jp ezweb.ne.jp au.com softbank.ne.jp
    i.softbank.jp ymobile.ne.jp nifty.com biglobe.ne.jp so-net.ne.jp ocn.ne.jp plala.or.jp""".split()
)


def is_same_organisation(a: str, b: str) -> bool:
    """Two addresses of one organisation: equal, or the same registrable domain that is not a mailbox provider."""
    if a == b:
        return bool(a)
    organisation = organisation_of(a)
    return bool(organisation) and organisation == organisation_of(b) and organisation not in SHARED_MAIL_PROVIDERS


@lru_cache(maxsize=1024)
def mailboxes_from_raw(raw_value: str) -> tuple[tuple[str, str], ...]:
    """(decoded display name, lower-case address) pairs from an undecoded address header value."""
    pairs = []
    for name, addr in getaddresses([raw_value or ""]):
        name = " ".join(decode_words(name).split())
        if addr or name:
            pairs.append((name, addr.strip().lower()))
    return tuple(pairs)


def raw_header_values(raw: bytes, name: str, limit: int = 65_536) -> list[str]:
    """Undecoded values of a header straight from the message bytes (unfolded)."""
    head = raw[:limit]
    end = head.find(b"\r\n\r\n")
    if end < 0:
        end = head.find(b"\n\n")
    text = (head if end < 0 else head[:end]).decode("latin-1")
    values, current = [], None
    prefix = name.lower() + ":"
    for line in text.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and current is not None:
            current.append(line.strip())
            continue
        if current is not None:
            values.append(" ".join(current))
            current = None
        if line.lower().startswith(prefix):
            current = [line[len(prefix) :].strip()]
    if current is not None:
        values.append(" ".join(current))
    return values


def emails_in(text: str) -> list[str]:
    return [m.group(0).lower() for m in EMAIL_RE.finditer(unicodedata.normalize("NFKC", text or ""))]


def fold_romaji(token: str) -> str:
    """One spelling for the Hepburn variants people use for long vowels (Satou, Satoh, Sato)."""
    token = re.sub(r"oh(?=[^aeiou]|$)", "o", token)
    token = token.replace("ou", "o").replace("oo", "o").replace("uu", "u")
    return token


def name_tokens(name: str) -> list[str]:
    """The words of a personal name: normalised, honorifics, addresses and bracketed notes removed."""
    text = unicodedata.normalize("NFKC", name or "").casefold()
    text = EMAIL_RE.sub(" ", text)
    # "田中 直樹（関西電機）" names a person plus a note; "addr (田中 直樹)" puts the name in brackets.
    outside = _BRACKETED.sub(" ", text)
    text = outside if outside.strip(" ()[]{}<>") else _BRACKET_CHARS.sub(" ", text)
    text = _HONORIFICS.sub(" ", text)
    tokens = [t for t in _SEPARATORS.split(text) if t]
    return [fold_romaji(t) if _LATIN.match(t) else t for t in tokens]


def name_keys(name: str) -> set[str]:
    """Keys under which a name is indexed and looked up: both orders, with and without spaces.

    "杉山 花子", "杉山花子", "Hanako Sugiyama", "SUGIYAMA Hanako" and "sugiyama, hanako 様" share a key.
    Only full names make keys; a lone surname identifies nobody.
    """
    tokens = name_tokens(name)
    if not tokens:
        return set()
    joined = "".join(tokens)
    if len(tokens) == 1:
        # Japanese full names are often written without a space; a lone Latin word is just a surname.
        return {joined} if not _LATIN.match(joined) and len(joined) >= 3 else set()
    keys = {joined, "".join(reversed(tokens)), "".join(sorted(tokens))}
    return keys


def embedded_name_keys(name: str) -> set[str]:
    """Keys of a full name written inside a longer display name ("東海計器 杉山 花子", "ACME Hanako Sugiyama").

    Adjacent word pairs in both orders, and the substrings of 3 to 8 characters of each run of CJK
    characters ("東海計器杉山花子" contains "杉山花子").
    """
    tokens = name_tokens(name)
    keys: set[str] = set()
    for first, second in zip(tokens, tokens[1:]):
        keys.update((first + second, second + first))
    for token in tokens:
        if len(token) >= 3 and not _LATIN.match(token):
            for size in range(3, min(len(token), 8) + 1):
                keys.update(token[i : i + size] for i in range(len(token) - size + 1))
    return keys


def is_latin_key(key: str) -> bool:
    return bool(_LATIN.match(key))


def sender_of(message) -> tuple[str, str]:
    """(display name, address) of the first From mailbox (the parser splits before decoding names)."""
    return message.from_name, message.from_addr


def reply_to_of(message) -> list[tuple[str, str]]:
    if not message.reply_to:
        return []
    pairs = []
    for value in raw_header_values(message.raw, "Reply-To"):
        pairs.extend(p for p in mailboxes_from_raw(value) if p[1])
    return pairs
