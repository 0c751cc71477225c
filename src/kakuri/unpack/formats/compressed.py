"""Single-stream compressors: gzip, bzip2, xz/lzma, zstd. One member, streamed under the caps.

The member is named after the container minus its suffix ("report.doc.gz" -> "report.doc"), or the
gzip header's original name when there is one. Concatenated gzip members are read as one stream, as
gunzip does.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from typing import Callable, ClassVar, Iterator

from kakuri.unpack.formats.base import CorruptArchive, Extraction, Member, StopExtraction

_SUFFIXES = {".gz": "", ".gzip": "", ".bz2": "", ".xz": "", ".lzma": "", ".zst": "", ".zstd": "",
             ".tgz": ".tar", ".tbz": ".tar", ".tbz2": ".tar", ".txz": ".tar"}


def _zstd_stream(raw):
    from backports import zstd  # py3.14's compression.zstd, installed with py7zr

    return zstd.ZstdFile(raw)


class CompressedFormat:
    """One class for the four: they differ only in the stream opener."""

    name: ClassVar[str] = "gzip"
    _OPENERS: ClassVar[dict[str, Callable]] = {
        "gzip": lambda raw: gzip.GzipFile(fileobj=raw),
        "bzip2": bz2.BZ2File,
        "xz": lzma.LZMAFile,
        "zstd": _zstd_stream,
    }

    def __init__(self, kind: str) -> None:
        self.name = kind  # type: ignore[misc]
        self._opener = self._OPENERS[kind]

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        name = _member_name(data, job.path, self.name)
        try:
            member = job.take(name, lambda: self._opener(io.BytesIO(data)), None, len(data))
        except StopExtraction:
            raise
        except Exception as exc:  # BadGzipFile, EOFError (truncated), OSError, LZMAError
            raise CorruptArchive(f"{type(exc).__name__}: {exc}") from exc
        if member is not None:
            yield member


def _member_name(data: bytes, path: str, kind: str) -> str:
    base = path.rsplit("/", 1)[-1]
    if kind == "gzip" and len(data) > 10 and data[3] & 0x08:  # FNAME flag: original name follows
        start = 10 + (2 + int.from_bytes(data[10:12], "little") if data[3] & 0x04 else 0)
        end = data.find(b"\x00", start, start + 1024)
        if end > start:
            original = data[start:end].decode("latin-1").replace("\\", "/").rsplit("/", 1)[-1]
            if original:
                return original
    lowered = base.lower()
    for suffix, replacement in _SUFFIXES.items():
        if lowered.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)] + replacement
    return base + ".out"
