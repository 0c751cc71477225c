"""TNEF (winmail.dat, application/ms-tnef): Outlook's wrapper around attachments, via tnefparse."""

from __future__ import annotations

import io
import struct
from typing import ClassVar, Iterator

from tnefparse.tnef import TNEF

from kakuri.unpack.formats.base import CorruptArchive, Extraction, Member


class TnefFormat:
    name: ClassVar[str] = "tnef"

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        try:
            tnef = TNEF(data, do_checksum=False)
        except Exception as exc:  # tnefparse raises ValueError, struct.error, IndexError... on bad input
            raise CorruptArchive(f"{type(exc).__name__}: {exc}") from exc
        if not _is_whole(data):
            job.corrupt("truncated or trailing bytes after the last attribute")
        for index, attachment in enumerate(tnef.attachments, start=1):
            try:
                name = attachment.long_filename() or attachment.name
            except Exception:
                name = None
            if isinstance(name, bytes):
                name = name.decode("cp932", errors="replace")
            payload = attachment.data or b""
            member = job.take(str(name or f"attachment_{index}").replace("\x00", ""),
                              lambda payload=payload: io.BytesIO(payload), len(payload), len(payload))
            if member is not None:
                yield member


def _is_whole(data: bytes) -> bool:
    """tnefparse stops quietly at a truncated attribute: walk the framing (level u8, id u32, length u32,
    data, checksum u16) ourselves to tell a complete stream from a cut one."""
    offset = 6
    while offset + 9 <= len(data):
        (length,) = struct.unpack_from("<I", data, offset + 5)
        offset += 9 + length + 2
    return offset == len(data)
