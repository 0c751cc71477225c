"""Disk images no in-process reader opens, read by 7-Zip (Debian's `7zz`) in a box (`external.py`):
NTFS volumes (raw, or inside VHD/VHDX/MBR/GPT disks), UDF-only discs, ext/HFS/APFS volumes, VMDK, DMG, WIM.

Threat: the same as every disk image (an .lnk/.exe hidden from mail filters, Mark-of-the-Web dropped),
on the file systems our Python readers (pycdlib for ISO 9660, dissect for FAT) do not cover.
Technique: list with `7zz l -slt` first and refuse more members or declared bytes than the message's
budget allows (members over the per-file cap are excluded and reported), then `7zz x` into the box,
without the volume's own metadata (7-Zip's top-level `[SYSTEM]` folder: $MFT, $LogFile...) and deleted
files.
Blind spots: without 7zz installed, ARCHIVE_UNSUPPORTED (as before); deleted files; a user folder
literally named `[SYSTEM]` or `[DELETED]` at the top of the volume.
"""

from __future__ import annotations

from typing import ClassVar, Iterator

from kakuri.unpack.formats.base import CorruptArchive, Extraction, Member, UnsupportedArchive
from kakuri.unpack.formats.external import MAX_LISTING_BYTES, Box, ToolFailed, tool

METADATA = "[SYSTEM]"
DELETED = "[DELETED]"


class ToolImageFormat:
    name: ClassVar[str] = "img"

    def __init__(self, kind: str) -> None:
        self.name = kind  # type: ignore[misc]

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        sevenzip = tool("7zz")
        if sevenzip is None:
            raise UnsupportedArchive(f"no in-process reader for this {self.name} image: install Debian's 7zip to read it")
        with Box(data, job, f".{self.name}") as box:
            files = _listing(box, sevenzip)
            limits, budget = job.limits, job.budget
            cap = min(limits.max_member_bytes, limits.max_total_bytes - budget.total_bytes)
            oversized = [(path, size) for path, size in files if size > cap]
            fitting = [(path, size) for path, size in files if size <= cap]
            if budget.members + len(fitting) > limits.max_members:
                job.exceed("max_members", limits.max_members, members=len(files))
            if budget.total_bytes + sum(size for _, size in fitting) > limits.max_total_bytes:
                job.exceed("max_total_bytes", limits.max_total_bytes)
            for path, size in oversized:
                budget.report("ARCHIVE_LIMIT_EXCEEDED", job.path, limit="max_member_bytes",
                              limit_value=limits.max_member_bytes, member=path, member_bytes=size)
            box.fresh_output()
            excluded = [f"-x!{METADATA}", f"-x!{DELETED}", *(f"-x!{path}" for path, _ in oversized)]
            try:
                run = box.run([sevenzip, "x", "-y", "-bd", "-bso0", "-bsp0", f"-o{box.output}", *excluded,
                               "--", str(box.input)])
            except ToolFailed:
                job.check_time()
                raise
            if run.returncode != 0:
                job.corrupt(f"7zz exit {run.returncode}: {run.stderr.decode(errors='replace').strip()[-160:]}")
            yield from box.members()


def _listing(box: Box, sevenzip: str) -> list[tuple[str, int]]:
    """(path, size) of every file 7-Zip sees, without the volume's metadata."""
    try:
        run = box.run([sevenzip, "l", "-slt", "-ba", "--", str(box.input)])
    except ToolFailed as exc:
        raise CorruptArchive(str(exc)) from exc
    if run.returncode != 0 or len(run.stdout) > MAX_LISTING_BYTES:
        raise UnsupportedArchive(f"7zz cannot read this image: {run.stderr.decode(errors='replace').strip()[-160:]}")
    files = []
    for block in run.stdout.decode("utf-8", "replace").split("\n\n"):
        fields = dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line)
        path = fields.get("Path", "")
        if not path or fields.get("Folder") == "+" or path.split("/", 1)[0] in (METADATA, DELETED):
            continue
        if "File System" in fields or "Primary" in fields:  # a raw partition: 7-Zip could not read inside it
            raise UnsupportedArchive(f"partition {path} holds a file system 7-Zip does not read either")
        if fields.get("Deleted") == "+" or fields.get("Link"):
            continue  # not a file Windows shows; links are never followed (Box.files skips them)
        try:
            files.append((path, int(fields.get("Size") or 0)))
        except ValueError:
            files.append((path, 0))
    return files
