"""olefile hardening: a stream never spans more sectors than the file's FAT has entries.

Threat: a tiny OLE file (2.7 KB, found by fuzzing) whose directory declares a 570 MB stream over a
5-entry FAT. olefile notes the defect ("stream too large"), ignores it at its default defect level,
then follows the FAT cycle about a million times and builds the whole declared size in memory: ~30 s of
CPU and hundreds of MB for every Office detector that opens the file (oletools opens it again inside).
Technique: cap the stream at the FAT's length, the maximum the defect check itself states; a
well-formed file reads exactly as before. One place for every reader of OLE files (ours and oletools').
"""

from __future__ import annotations

from olefile import olefile as _olefile

_MARK = "_kakuri_capped"


def install() -> None:
    """Idempotent; called by the composition root before detectors run."""
    stream = _olefile.OleStream
    if getattr(stream.__init__, _MARK, False):
        return
    original = stream.__init__

    def capped(self, fp, sect, size, offset, sectorsize, fat, filesize, olefileio):
        if size != _olefile.UNKNOWN_SIZE and (size + sectorsize - 1) // sectorsize > len(fat):
            size = len(fat) * sectorsize
        original(self, fp, sect, size, offset, sectorsize, fat, filesize, olefileio)

    setattr(capped, _MARK, True)
    stream.__init__ = capped
