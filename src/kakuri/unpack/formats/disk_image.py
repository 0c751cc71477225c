"""Disk images as mail attachments: ISO 9660 (Joliet, Rock Ridge, UDF bridge) via pycdlib; FAT
volumes in raw .img files and in VHD/VHDX disks (MBR or GPT partitions) via Fox-IT's dissect modules.

Threat: ISO/IMG/VHD attachments hide an .lnk/.exe/.dll from mail filters and, opened on Windows, drop
the Mark-of-the-Web (Emotet/IcedID/Qakbot 2022). Every disk image gets ARCHIVE_DISK_IMAGE from the walker;
contents are extracted here. Images whose file system these do not read (NTFS, ext, HFS...) go to
7-Zip in a box (`image_tool.py`) when nothing was read in-process; without 7zz they stay
ARCHIVE_UNSUPPORTED (unscannable).
"""

from __future__ import annotations

import io
from typing import ClassVar, Iterator

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from kakuri.unpack.formats.base import CorruptArchive, Extraction, Member, StopExtraction, UnsupportedArchive


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


class FatImageFormat:
    """A raw disk image (.img): a FAT volume, or a partitioned disk holding FAT volumes."""

    name: ClassVar[str] = "img"

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        yield from _or_7zip(_volume_members(io.BytesIO(data), job), data, job, self.name)


class VirtualDiskFormat:
    """VHD (fixed or dynamic) and VHDX: the virtual disk is read as a raw disk."""

    def __init__(self, kind: str) -> None:
        self.name = kind

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        from dissect.hypervisor.disk.vhd import VHD
        from dissect.hypervisor.disk.vhdx import VHDX

        try:
            disk = (VHD if self.name == "vhd" else VHDX)(io.BytesIO(data))
        except Exception as exc:  # dissect raises its own and struct errors on damaged headers
            raise CorruptArchive(f"{type(exc).__name__}: {exc}") from exc
        yield from _or_7zip(_volume_members(disk, job), data, job, self.name)


def _or_7zip(members: Iterator[Member], data: bytes, job: Extraction, kind: str) -> Iterator[Member]:
    """The FAT members; when the image holds no FAT volume at all, what 7-Zip reads of it."""
    read = False
    try:
        for member in members:
            read = True
            yield member
    except UnsupportedArchive:
        if read:
            raise  # FAT partitions were read; a second reader over the same disk would repeat them
        from kakuri.unpack.formats.image_tool import ToolImageFormat

        yield from ToolImageFormat(kind).extract(data, job)


def _volume_members(stream, job: Extraction) -> Iterator[Member]:
    from dissect.volume.disk import Disk

    fs = _fat(stream)
    if fs is not None:
        yield from _fat_members(fs, job, "")
        return
    try:
        stream.seek(0)  # Disk reads the partition table from the current position
        partitions = Disk(stream).partitions
    except Exception as exc:
        raise UnsupportedArchive("neither a FAT volume nor a partition table") from exc
    unreadable = 0
    for index, partition in enumerate(partitions, start=1):
        fs = _fat(partition.open())
        if fs is None:
            unreadable += 1
            continue
        yield from _fat_members(fs, job, f"partition{index}/" if len(partitions) > 1 else "")
    if unreadable:
        raise UnsupportedArchive(f"{unreadable} partition(s) without a FAT volume (NTFS and others are not read)")


def _fat(stream):
    from dissect.fat.fat import FATFS

    try:
        return FATFS(stream)
    except Exception:  # InvalidBPB for anything that is not FAT
        return None


def _fat_members(fs, job: Extraction, prefix: str) -> Iterator[Member]:
    try:
        pending, seen = [(fs.get("/"), prefix)], set()
        while pending:
            directory, path = pending.pop()
            for entry in directory.iterdir():
                if entry.name in (".", "..") or entry.is_volume_id():
                    continue
                if entry.is_directory():
                    if entry.cluster not in seen and len(seen) < job.limits.max_members:  # loops in hostile FATs
                        seen.add(entry.cluster)
                        pending.append((entry, f"{path}{entry.name}/"))
                    continue
                member = job.take(f"{path}{entry.name}", lambda entry=entry: entry.open(), entry.size, entry.size)
                if member is not None:
                    yield member
    except StopExtraction:
        raise
    except Exception as exc:  # bad cluster chains, directory errors: what was read so far stays
        job.corrupt(f"{type(exc).__name__}: {exc}")


class UnsupportedDiskImage:
    """Known disk-image types we cannot open in-process: detected and reported, not silently passed."""

    def __init__(self, kind: str) -> None:
        self.name = kind

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        raise UnsupportedArchive(f"no in-process reader for {self.name} images")
        yield  # pragma: no cover - makes this a generator like the other formats
