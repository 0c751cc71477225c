from __future__ import annotations

import pytest

from kakuri.model import ParsedMessage
from kakuri.parse.mime import parse_message
from kakuri.unpack.limits import UnpackLimits
from kakuri.unpack.passwords import BodyPasswords
from kakuri.unpack.walker import unpack_message
from tests.builders import make_message


class Unpacked:
    def __init__(self, message: ParsedMessage, findings) -> None:
        self.message = message
        self.findings = findings

    @property
    def symbols(self) -> set[str]:
        return {f.symbol for f in self.findings}

    def finding(self, symbol: str):
        return next(f for f in self.findings if f.symbol == symbol)

    def part(self, path: str):
        return next(p for p in self.message.walk_parts() if p.path == path)

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.message.walk_parts()]


@pytest.fixture
def unpack():
    """unpack(attachments, body=..., limits=...) -> Unpacked: a real message, parsed, then unpacked."""

    def run(attachments: dict[str, bytes], *, body: str = "Please see the attachment.\n", subject: str = "Files",
            limits: UnpackLimits | None = None, charset: str = "utf-8", raw: bytes | None = None) -> Unpacked:
        raw = raw or make_message(subject=subject, body=body, charset=charset,
                                  attachments=[(name, data) for name, data in attachments.items()])
        message = parse_message(raw)
        source = BodyPasswords()
        findings = unpack_message(message, limits or UnpackLimits(), lambda: source.passwords(message, None))
        return Unpacked(message, findings)

    return run
