"""Reading staff and partner directories as people export them: CSV from Excel or an HR system.

Tolerates a UTF-8 BOM, Excel's Shift_JIS (cp932) and UTF-16 "Unicode text" exports, comma or tab
separators, and Japanese or English column names. Rows without a usable e-mail address are reported,
not imported.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from kakuri.model.knowledge import Person
from kakuri.parse.addresses import EMAIL_RE, domain_of

# Column names seen in real exports, normalised (NFKC, lower case, no spaces/underscores/hyphens).
_NAME = ("nameja", "name", "氏名", "名前", "fullname", "displayname", "社員名", "担当者", "担当者名")
_OTHER_NAMES = (
    "nameromaji", "romaji", "nameen", "englishname", "ローマ字", "氏名ローマ字", "英語名",
    "namekana", "カナ", "フリガナ", "氏名カナ",
)
_EMAIL = ("email", "mail", "emailaddress", "mailaddress", "メール", "メールアドレス", "eメール", "address")
_COMPANY = ("companyja", "company", "companyen", "会社", "会社名", "所属会社", "organisation", "organization")
_DOMAIN = ("domain", "ドメイン")


class DirectoryError(ValueError):
    """The file cannot be read as a directory; the message says why and what to do."""


@dataclass
class DirectoryRead:
    people: list[Person] = field(default_factory=list)
    domains: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)  # "line 7: no e-mail address"


def decode_text(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp932", errors="replace")


def _key(column: str) -> str:
    return re.sub(r"[\s_\-・]+", "", unicodedata.normalize("NFKC", column or "")).lower()


def _pick(row: dict[str, str], names: tuple[str, ...]) -> list[str]:
    return [row[n].strip() for n in names if (row.get(n) or "").strip()]


def read_people(path: Path, kind: str) -> DirectoryRead:
    try:
        text = decode_text(path.read_bytes())
    except OSError as exc:
        raise DirectoryError(f"{path}: cannot read ({exc.strerror})") from exc
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = {_key(c): c for c in reader.fieldnames or []}
    if not any(c in columns for c in _EMAIL):
        raise DirectoryError(
            f"{path}: no e-mail column in the header ({', '.join(reader.fieldnames or []) or 'empty file'}); "
            "the first row must name the columns, e.g. name_ja,name_romaji,email"
        )
    result = DirectoryRead()
    for line, raw in enumerate(reader, start=2):
        row = {_key(k): (v or "") for k, v in raw.items() if k}
        emails = [m.group(0).lower() for v in _pick(row, _EMAIL) for m in [EMAIL_RE.search(v)] if m]
        names = list(dict.fromkeys(_pick(row, _NAME) + _pick(row, _OTHER_NAMES)))
        if not emails:
            result.skipped.append(f"line {line}: no e-mail address")
            continue
        if not names:
            result.skipped.append(f"line {line}: no name")
            continue
        company = (_pick(row, _COMPANY) or [""])[0]
        result.people.append(Person(names[0], emails[0], kind, tuple(names[1:]), company))
        result.domains.add(domain_of(emails[0]))
        result.domains.update(d.lower() for d in _pick(row, _DOMAIN) if "." in d)
    return result


def read_partner_domains(path: Path) -> set[str]:
    """Partner domains from a JSON config (`known_partner_domains` / `partner_domains`) or a plain list."""
    text = decode_text(path.read_bytes())
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DirectoryError(f"{path}: not valid JSON ({exc})") from exc
        if isinstance(data, dict):
            entries = data.get("known_partner_domains") or data.get("partner_domains") or []
        else:
            entries = data if isinstance(data, list) else []
        domains = {(e.get("domain", "") if isinstance(e, dict) else str(e)) for e in entries}
    else:
        domains = {line.split("#", 1)[0].strip() for line in text.splitlines()}
    return {d.lower().rstrip(".") for d in domains if d and "." in d}
