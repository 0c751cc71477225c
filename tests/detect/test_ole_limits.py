"""olefile streams are capped at the FAT's length (detect/ole_limits.py)."""

from __future__ import annotations

import io
import struct
import time

import olefile

from kakuri.detect import ole_limits
from kakuri.pipeline import Scanner
from tests.builders import make_message
from tests.builders_office import ole_file


def _doc() -> bytes:
    return ole_file({"WordDocument": b"\xec\xa5" + b"\x00" * 9000})  # big enough for regular sectors


def _with_huge_stream(doc: bytes) -> bytes:
    """As the fuzzer found it: a big stream's directory entry claims 570 MB and its first sector's FAT
    entry points back at itself, so the chain never ends."""
    ole = olefile.OleFileIO(io.BytesIO(doc))
    entry = next(e for e in ole.direntries if e is not None and e.entry_type == olefile.STGTY_STREAM
                 and e.size >= ole.minisectorcutoff)
    directory = (ole.first_dir_sector + 1) * ole.sector_size + entry.sid * 128
    first_fat_sector = struct.unpack_from("<I", doc, 0x4C)[0]
    link = (first_fat_sector + 1) * ole.sector_size + 4 * entry.isectStart
    ole.close()
    out = bytearray(doc)
    out[directory + 120:directory + 124] = struct.pack("<I", 0x22222248)
    out[link:link + 4] = struct.pack("<I", entry.isectStart)
    return bytes(out)


def test_a_stream_declared_far_larger_than_the_fat_is_read_at_most_once_over(settings):
    ole_limits.install()
    hostile = _with_huge_stream(_doc())
    started = time.monotonic()
    ole = olefile.OleFileIO(io.BytesIO(hostile))
    for path in ole.listdir():
        assert len(ole.openstream(path).read()) <= len(hostile)
    assert time.monotonic() - started < 2


def test_the_whole_scan_of_such_a_document_is_quick_and_nothing_fails(settings):
    scanner = Scanner(settings)
    started = time.monotonic()
    verdict = scanner.scan(make_message(attachments=[("a.doc", _with_huge_stream(_doc()))])).verdict
    assert time.monotonic() - started < 5
    assert "DETECTOR_FAILED" not in verdict.symbols


def test_a_well_formed_document_reads_the_same(settings):
    ole_limits.install()
    doc = _doc()
    ole = olefile.OleFileIO(io.BytesIO(doc))
    assert ole.openstream("WordDocument").read()[:2] == b"\xec\xa5"  # the Word FIB magic
