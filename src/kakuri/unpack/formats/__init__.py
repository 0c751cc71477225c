"""One module per container format behind the `ArchiveFormat` protocol (see base.py).

`format_for(true_type)` imports a format's library only when a message first needs it, so mail
without containers never pays for py7zr, pycdlib or libarchive.
"""

from __future__ import annotations

from functools import cache

from kakuri.unpack.formats.base import ArchiveFormat


@cache
def format_for(kind: str) -> ArchiveFormat | None:
    """The reader for a `filetype.sniff` type; None for types that are not containers."""
    if kind in ("zip", "jar"):
        from kakuri.unpack.formats.zip import ZipFormat

        return ZipFormat()
    if kind == "7z":
        from kakuri.unpack.formats.sevenzip import SevenZipFormat

        return SevenZipFormat()
    if kind in ("gzip", "bzip2", "xz", "zstd"):
        from kakuri.unpack.formats.compressed import CompressedFormat

        return CompressedFormat(kind)
    if kind == "tar":
        from kakuri.unpack.formats.tar import TarFormat

        return TarFormat()
    if kind in ("rar", "cab", "lzh"):
        from kakuri.unpack.formats.rar import LibarchiveFormat

        return LibarchiveFormat(kind)
    if kind == "iso":
        from kakuri.unpack.formats.disk_image import IsoFormat

        return IsoFormat()
    if kind == "img":
        from kakuri.unpack.formats.disk_image import FatImageFormat

        return FatImageFormat()
    if kind in ("vhd", "vhdx"):
        from kakuri.unpack.formats.disk_image import VirtualDiskFormat

        return VirtualDiskFormat(kind)
    if kind in ("udf", "vmdk", "dmg", "wim"):
        from kakuri.unpack.formats.image_tool import ToolImageFormat

        return ToolImageFormat(kind)
    if kind == "onenote":
        from kakuri.unpack.formats.onenote import OneNoteFormat

        return OneNoteFormat()
    if kind == "tnef":
        from kakuri.unpack.formats.tnef import TnefFormat

        return TnefFormat()
    return None
