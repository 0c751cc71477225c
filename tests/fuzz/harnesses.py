"""Fuzz targets: bytes in, and either nothing or a crash that names a bug.

Each target feeds hostile bytes to one stage the way the gateway does, and turns the ways that stage
can fail silently into exceptions the fuzzer reports: an exception raised inside our own code (a
library's error on a corrupt container is expected: the walker reports it as ARCHIVE_CORRUPT), a
detector that failed (DETECTOR_FAILED is survival, not correctness), a parse that raised. Hangs and
memory blow-ups are caught by the fuzzer's own `-timeout` and `-rss_limit_mb`.

Used by `tests/fuzz/run.py` (atheris, coverage-guided) and `tests/fuzz/test_harnesses.py` (seeds and
every kept crash input replayed on each test run).
"""

from __future__ import annotations

import traceback
from functools import cache
from pathlib import Path
from typing import Callable

from kakuri.model import ParsedMessage, Part

SRC = str(Path(__file__).resolve().parents[2] / "src" / "kakuri")


class FuzzBug(Exception):
    """What a target found: the message says which stage and why."""


@cache
def _scanner():
    from kakuri.pipeline import Scanner
    from kakuri.settings import load_settings
    from kakuri.unpack.passwords import BodyPasswords
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="kakuri-fuzz-"))
    return Scanner(load_settings(home / "data"), password_sources=[BodyPasswords()])


def _failed(findings) -> None:
    for finding in findings:
        if finding.symbol == "DETECTOR_FAILED":
            raise FuzzBug(f"detector failed: {dict(finding.evidence)}")


def message(data: bytes) -> None:
    """The whole scan of one raw message: MIME parser, unpack, every detector."""
    result = _scanner().scan(data)
    _failed(result.verdict.findings)


def mime(data: bytes) -> None:
    """The MIME parser alone (the cheapest target, so the fuzzer goes deep into header and body cases)."""
    from kakuri.parse.mime import parse_message

    parsed = parse_message(data)
    failed = [d for d in parsed.defects if d.startswith("ParseFailed")]
    if failed:
        raise FuzzBug(f"parse_message gave up: {failed[0]}")


def html(data: bytes) -> None:
    """HTML bodies: text for display and password harvesting, and links with their anchor text."""
    from kakuri.parse.html import html_to_text
    from kakuri.parse.urls import extract_html_urls, extract_text_urls

    text = data.decode("utf-8", "replace")
    extract_text_urls(html_to_text(text))
    extract_html_urls(text)


def attachment(data: bytes) -> None:
    """One attachment through unpack and every detector (the Office, PDF, file-type and IOC analysers)."""
    scanner = _scanner()
    part = Part(path="attachment.bin", data=data, filename="attachment.bin", is_attachment=True)
    parsed = ParsedMessage(raw=b"", headers=[("Subject", "fuzz")], subject="fuzz", from_addr="a@example.com",
                           text="Password: fuzz", parts=[part])
    from kakuri.detect.base import ScanContext
    from kakuri.unpack.walker import unpack_message

    findings = list(unpack_message(parsed, scanner.settings.unpack, lambda: ["fuzz"]))
    _ours(findings)
    ctx = ScanContext()
    for detector in scanner.detectors:
        findings.extend(scanner._run(detector, parsed, ctx))
    _failed(findings)


def unpack(data: bytes) -> None:
    """Every container reader, chosen by content as the walker chooses it, read to the end."""
    from kakuri.unpack.filetype import sniff
    from kakuri.unpack.formats import format_for
    from kakuri.unpack.formats.base import ArchiveError, Budget, Extraction, StopExtraction
    from kakuri.unpack.limits import UnpackLimits

    fmt = format_for(sniff(data))
    if fmt is None:
        return
    budget = Budget(UnpackLimits(), lambda: ["fuzz", "infected"])
    try:
        for member in fmt.extract(data, Extraction(budget, "fuzz", len(data))):
            assert isinstance(member.data, bytes)
    except (ArchiveError, StopExtraction):
        pass
    except Exception as exc:
        if _raised_in_our_code(exc):
            raise
        # a library's own error on a corrupt container: the walker reports it as ARCHIVE_CORRUPT


def _ours(findings) -> None:
    """ARCHIVE_CORRUPT caused by an exception from our own unpack code is a bug, not a corrupt archive."""
    for finding in findings:
        error = finding.evidence.get("error", "")
        if finding.symbol == "ARCHIVE_CORRUPT" and error.split(":", 1)[0] in ("AssertionError", "NameError",
                                                                              "UnboundLocalError", "AttributeError"):
            raise FuzzBug(f"unpack raised {error}")


def _raised_in_our_code(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(SRC)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "mime": mime,
    "message": message,
    "html": html,
    "unpack": unpack,
    "office": attachment,
    "pdf": attachment,
}
