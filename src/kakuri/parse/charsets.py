"""Bytes -> str whatever the declared (or missing, or wrong) charset, with Japanese mail in mind."""

from __future__ import annotations

import codecs
import re

# Mail declares the standard names; the senders actually use the Microsoft supersets.
_SUPERSETS = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "csiso2022jp": "iso2022_jp_ext",
    "euc-jp": "euc_jis_2004",
    "x-euc-jp": "euc_jis_2004",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "us-ascii": "utf-8",  # 8-bit bytes under a us-ascii label are nearly always UTF-8
    "ascii": "utf-8",
}
_JAPANESE_GUESSES = ("utf-8", "cp932", "euc_jis_2004")


def codec_for(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL in the label (found by fuzzing)
        return None


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, bool]:
    """Decode `data`; returns (text, clean) where clean is False when we had to guess or replace."""
    if not data:
        return "", True
    codec = codec_for(declared)
    if codec:
        try:
            return data.decode(codec), True
        except (UnicodeDecodeError, LookupError):
            pass
    if b"\x1b$" in data or b"\x1b(" in data:
        for guess in ("iso2022_jp_ext", "iso2022_jp_2"):
            try:
                return data.decode(guess), codec is None
            except UnicodeDecodeError:
                continue
    for guess in _JAPANESE_GUESSES:
        try:
            return data.decode(guess), codec is None and guess == "utf-8"
        except UnicodeDecodeError:
            continue
    return data.decode(codec or "utf-8", errors="replace"), False


_SURROGATE = re.compile("[\udc80-\udcff]")


def repair_surrogates(text: str) -> str:
    """Undo the email package's surrogateescape of raw 8-bit header bytes by decoding them properly."""
    if not _SURROGATE.search(text):
        return text
    raw = text.encode("utf-8", errors="surrogateescape")
    return decode_bytes(raw)[0]
