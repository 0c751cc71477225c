"""Files embedded in OneNote sections (.one), the 2023 Emotet/Qakbot carrier (.hta/.wsf/.bat behind a
"double-click to view" picture).

Hand-written because no maintained Python library reads MS-ONESTORE. We do not parse the revision
store: every embedded file lives in a FileDataStoreObject (MS-ONESTORE 2.6.13), which starts with the
GUID {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}, then cbLength (u64), 4 unused and 8 reserved bytes, then the
file data. Scanning for that GUID finds every payload whatever the page structure, as pyOneNote and
onedump do. Names live elsewhere in the store, so members are named "embedded_N".
"""

from __future__ import annotations

import io
import struct
from typing import ClassVar, Iterator

from kakuri.unpack.formats.base import Extraction, Member

_FILE_DATA = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
_HEADER = 16 + 8 + 4 + 8


class OneNoteFormat:
    name: ClassVar[str] = "onenote"

    def extract(self, data: bytes, job: Extraction) -> Iterator[Member]:
        view = memoryview(data)
        start, index = data.find(_FILE_DATA), 0
        while start >= 0:
            if len(data) < start + _HEADER:
                job.corrupt("truncated FileDataStoreObject", offset=start)
                return
            (length,) = struct.unpack_from("<Q", data, start + 16)
            body = start + _HEADER
            if body + length > len(data):
                job.corrupt("FileDataStoreObject longer than the file", offset=start, declared=length)
                return
            index += 1
            member = job.take(f"embedded_{index}", lambda b=body, n=length: io.BytesIO(view[b:b + n]), length, length)
            if member is not None:
                yield member
            start = data.find(_FILE_DATA, body + length)
