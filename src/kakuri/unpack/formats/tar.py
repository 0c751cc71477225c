"""Tar (ustar, GNU, pax) via the stdlib, streamed member by member; only regular files are taken."""

from __future__ import annotations

import io
import tarfile
from typing import ClassVar, Iterator

from kakuri.unpack.formats.base import CorruptArchive, Extraction, Member


class TarFormat:
    name: ClassVar[str] = "tar"

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        try:
            archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise CorruptArchive(f"{type(exc).__name__}: {exc}") from exc
        with archive:
            while True:
                try:
                    info = archive.next()
                except (tarfile.TarError, OSError, EOFError) as exc:
                    job.corrupt(f"{type(exc).__name__}: {exc}")
                    return
                if info is None:
                    return
                if not info.isreg():
                    continue
                # Stored, not compressed: the declared size is also the "compressed" size (ratio 1).
                member = job.take(info.name.lstrip("/") or "unnamed",
                                  lambda info=info: archive.extractfile(info), info.size, info.size)
                if member is not None:
                    yield member
