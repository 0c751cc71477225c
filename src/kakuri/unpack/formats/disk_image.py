"""Disk images as mail attachments: ISO 9660 (with Joliet, Rock Ridge or UDF bridge) via pycdlib.

Threat: ISO/IMG/VHD attachments hide an .lnk/.exe/.dll from mail filters and, opened on Windows, drop
the Mark-of-the-Web (Emotet/IcedID/Qakbot 2022). Every disk image gets ARCHIVE_DISK_IMAGE from the walker;
ISO contents are extracted here. UDF-only images, raw FAT/NTFS .img, VHD/VHDX/VMDK/DMG/WIM have no
in-process reader we trust: `UnsupportedDiskImage` makes them ARCHIVE_UNSUPPORTED (unscannable).
"""

from __future__ import annotations

import io
from typing import ClassVar, Iterator

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from kakuri.unpack.formats.base import CorruptArchive, Extraction, Member, UnsupportedArchive


class IsoFormat:
    name: ClassVar[str] = "iso"

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        iso = pycdlib.PyCdlib()
        try:
            iso.open_fp(io.BytesIO(data))
        except (PyCdlibException, ValueError, IndexError, KeyError, OSError) as exc:
            raise CorruptArchive(f"{type(exc).__name__}: {exc}") from exc
        # The names Windows shows: UDF first, then Joliet, Rock Ridge, plain ISO 9660 (8.3;1 names).
        facade = ("udf_path" if iso.has_udf() else "joliet_path" if iso.has_joliet()
                  else "rr_path" if iso.has_rock_ridge() else "iso_path")
        try:
            for directory, _dirs, files in iso.walk(**{facade: "/"}):
                for filename in files:
                    path = directory.rstrip("/") + "/" + filename
                    record = iso.get_record(**{facade: path})
                    size = record.get_data_length()
                    name = path.lstrip("/").split(";")[0] if facade == "iso_path" else path.lstrip("/")
                    member = job.take(name, lambda path=path: _opened(iso, facade, path), size, size)
                    if member is not None:
                        yield member
        except (PyCdlibException, ValueError, IndexError, KeyError, OSError) as exc:
            job.corrupt(f"{type(exc).__name__}: {exc}")
        finally:
            iso.close()


def _opened(iso: pycdlib.PyCdlib, facade: str, path: str):
    # pycdlib's file object is only usable once entered (it seeks to the extent in __enter__); it holds
    # no resource of its own, the image's BytesIO is closed with the PyCdlib object.
    return iso.open_file_from_iso(**{facade: path}).__enter__()


class UnsupportedDiskImage:
    """Known disk-image types we cannot open in-process: detected and reported, not silently passed."""

    def __init__(self, kind: str) -> None:
        self.name = kind

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        raise UnsupportedArchive(f"no in-process reader for {self.name} images")
        yield  # pragma: no cover - makes this a generator like the other formats
