"""A parsed message: decoded headers, text, and the tree of parts (MIME parts, then archive members)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator


@dataclass(eq=False)
class Part:
    """One leaf MIME part or one file found inside a container.

    `path` names it for people and findings: "invoice.zip/report.xlsm". `children` is filled by the
    unpack stage; a part is mutable only until the detect stage starts.
    """

    path: str
    data: bytes
    filename: str | None = None
    content_type: str = "application/octet-stream"  # declared (MIME) type; members inherit nothing
    is_attachment: bool = False
    depth: int = 0  # 0 = a MIME part, n = n archive levels down
    container: str | None = None  # format of the archive this part came out of ("zip", "7z", ...)
    encrypted: bool = False  # an encrypted container or member that could not be opened
    password: str | None = None  # the password that opened it
    children: list[Part] = field(default_factory=list)
    true_type: str | None = None  # file type by content, set by unpack ("zip", "ole", "pe", ...)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def extension(self) -> str:
        name = (self.filename or "").rstrip(". ")
        return name.rsplit(".", 1)[-1].lower() if "." in name else ""

    def walk(self) -> Iterator[Part]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(eq=False)
class ParsedMessage:
    raw: bytes
    headers: list[tuple[str, str]]  # decoded (name, value), in order
    subject: str = ""
    from_name: str = ""
    from_addr: str = ""  # lower-cased addr-spec of the (first) From
    reply_to: list[str] = field(default_factory=list)
    to: list[tuple[str, str]] = field(default_factory=list)  # (display name, address)
    cc: list[tuple[str, str]] = field(default_factory=list)
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    date: str = ""
    text: str = ""  # every text/plain body, decoded, joined
    html: list[str] = field(default_factory=list)  # raw HTML bodies (decoded to str)
    html_text: str = ""  # the HTML bodies rendered as plain text
    parts: list[Part] = field(default_factory=list)  # leaf MIME parts that are not body text
    defects: list[str] = field(default_factory=list)  # parser complaints, kept for the detectors

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    @property
    def body_text(self) -> str:
        """All human-readable body text: plain parts and rendered HTML."""
        return self.text + ("\n" + self.html_text if self.html_text else "")

    def walk_parts(self) -> Iterator[Part]:
        """Every part and every unpacked member, depth first."""
        for part in self.parts:
            yield from part.walk()

    @property
    def recipients(self) -> list[str]:
        return [addr for _, addr in self.to + self.cc if addr]
