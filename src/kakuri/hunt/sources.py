"""Log files in: folders expanded, rotations ordered, gzip opened by its magic, the format sniffed from content.

A file's name is only a hint (`maillog.1.gz` and `access.log` are common, but operators rename files):
the first lines decide. Unknown files are reported, never guessed.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_LINES = 30

_SYSLOG = re.compile(r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*) \S+ postfix")
_ZEEK_JSON_KEYS = ('"id.orig_h"', '"rx_hosts"', '"fuid"')  # conn/dns carry the 4-tuple; files.log its hosts
_SQUID = re.compile(r"^\d{9,11}(?:\.\d+)?\s+-?\d+\s+\S+\s+[A-Z_]+/\d{3}\s+-?\d+\s+[A-Z_]+\s+\S+")


@dataclass(frozen=True, slots=True)
class LogFile:
    path: Path
    kind: str  # squid | zeek | maillog
    size: int


def expand(paths: Iterable[Path]) -> tuple[list[LogFile], list[Path]]:
    """Every log file under the paths, oldest rotation first; and the files no parser recognised."""
    found: list[LogFile] = []
    unknown: list[Path] = []
    for path in paths:
        candidates = sorted((p for p in path.rglob("*") if p.is_file()), key=_rotation_order) if path.is_dir() else [path]
        for file in candidates:
            kind = sniff(file)
            if kind is None:
                unknown.append(file)
            else:
                found.append(LogFile(file, kind, _text_size(file)))
    return found, unknown


def _text_size(path: Path) -> int:
    """Bytes of text, for the progress bar: gzip keeps the uncompressed size (mod 4 GiB) in its trailer."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        if stream.read(2) != GZIP_MAGIC or size < 18:
            return size
        stream.seek(-4, 2)
        return max(int.from_bytes(stream.read(4), "little"), size)


def _rotation_order(path: Path) -> tuple:
    """`maillog.2.gz` < `maillog.1` < `maillog`: higher rotation numbers are older."""
    name = path.name.removesuffix(".gz").removesuffix(".bz2")
    match = re.search(r"\.(\d+)$", name)
    base = name[: match.start()] if match else name
    return (str(path.parent), base, -(int(match.group(1)) if match else 0))


def open_text(path: Path) -> io.TextIOBase:
    """A text stream over a plain or gzip file; undecodable bytes are replaced, never fatal."""
    with path.open("rb") as head:
        magic = head.read(2)
    raw = gzip.open(path, "rb") if magic == GZIP_MAGIC else path.open("rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None)


def sniff(path: Path) -> str | None:
    try:
        with open_text(path) as stream:
            head = [line for _, line in zip(range(SNIFF_LINES), stream)]
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return sniff_lines(head)


def sniff_lines(head: list[str]) -> str | None:
    for line in head:
        if line.startswith("#fields") or line.startswith("#path"):
            return "zeek"
        if line.startswith("{") and '"ts"' in line and any(key in line for key in _ZEEK_JSON_KEYS):
            return "zeek"
    lines = [line for line in head if line.strip() and not line.startswith("#")]
    if not lines:
        return None
    votes = {"squid": 0, "maillog": 0}
    for line in lines:
        if _SQUID.match(line):
            votes["squid"] += 1
        elif _SYSLOG.match(line):
            votes["maillog"] += 1
    kind, count = max(votes.items(), key=lambda item: item[1])
    return kind if count * 2 >= len(lines) else None


def read_lines(path: Path) -> Iterator[str]:
    with open_text(path) as stream:
        yield from stream
