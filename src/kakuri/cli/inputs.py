"""Messages to scan from files, folders and mbox files, each with a display name for reports."""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class InputMessage:
    name: str  # the path as given, or relative to the folder given; "box.mbox#3" for mbox members
    raw: bytes


class InputError(Exception):
    pass


def iter_messages(paths: list[Path]) -> Iterator[InputMessage]:
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                if file.suffix.lower() in (".jsonl", ".json", ".csv", ".md"):
                    continue  # labels and directories beside the mail, not mail
                yield from _from_file(file, file.relative_to(path).as_posix())
        else:
            yield from _from_file(path, str(path))


def count_messages(paths: list[Path]) -> int | None:
    """A cheap total for the progress bar (mbox files count as one until read)."""
    try:
        return sum(1 for _ in _files(paths))
    except OSError:
        return None


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            yield path


def _from_file(path: Path, name: str) -> Iterator[InputMessage]:
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror}); check the permissions") from exc
    if head == b"From ":
        for index, message in enumerate(mailbox.mbox(path, create=False)):
            yield InputMessage(f"{name}#{index + 1}", message.as_bytes())
    else:
        yield InputMessage(name, path.read_bytes())
