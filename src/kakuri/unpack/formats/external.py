"""Extraction by a Debian command-line tool, for what no maintained Python library reads: encrypted RAR
(`unar`, from XADMaster; libarchive cannot decrypt RAR and Debian's unrar is non-free) and disk images
whose file system has no in-process reader here (NTFS, UDF-only, ext, HFS...: `7zz`, Debian's 7zip).

The tool runs boxed: a fresh temporary folder holds the input and receives the output (removed
afterwards), no shell, a fixed argument list, stdin closed, a minimal environment, its own session,
and kernel limits set by util-linux `prlimit` (not a preexec_fn, which is unsafe in the gateway's
threads): wall time = what is left of the message's unpack deadline, CPU seconds, address space
(`TOOL_MEMORY_BYTES`), no core files, and a file-size limit of one member's cap, so a bomb is stopped
by the kernel (SIGXFSZ) rather than by the disk filling. The caller lists the archive
first and refuses more members or declared bytes than the budget allows; extracted files are read
back without following links (a symlink entry never leads out of the folder), and every member still
goes through `Extraction.take`. Nothing extracted is ever executed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Iterator

from kakuri.unpack.formats.base import Extraction, Member

TOOL_MEMORY_BYTES = 1024 * 1024 * 1024
MAX_LISTING_BYTES = 16 * 1024 * 1024


@cache
def tool(name: str) -> str | None:
    """Absolute path of a Debian tool, or None when it is not installed (apt-get install unar 7zip)."""
    return shutil.which(name, path="/usr/bin:/bin:/usr/local/bin")


class ToolFailed(Exception):
    """The tool could not run, was killed by a limit, or produced output we refuse to read."""


class Box:
    """A temporary folder with the container written into it, and the tool runs on it."""

    def __init__(self, data: bytes, job: Extraction, suffix: str) -> None:
        self.job = job
        self._dir = tempfile.TemporaryDirectory(prefix="kakuri-unpack-")
        root = Path(self._dir.name)
        self.input = root / f"input{suffix}"
        self.input.write_bytes(data)
        self.output = root / "out"
        self.compressed = len(data)

    def __enter__(self) -> Box:
        return self

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        """Run with the limits; raises ToolFailed on a time-out (the caller reports the limit)."""
        left = self.job.budget.deadline - time.monotonic()
        if left <= 0:
            raise ToolFailed("no time left")
        prlimit = tool("prlimit")
        if prlimit is None:
            raise ToolFailed("util-linux prlimit is missing: install util-linux")
        cpu = max(1, int(left) + 1)
        limits = [prlimit, f"--cpu={cpu}", f"--as={TOOL_MEMORY_BYTES}", "--core=0",
                  f"--fsize={self.job.limits.max_member_bytes + 1}", "--"]
        try:
            return subprocess.run(
                [*limits, *argv], cwd=self._dir.name, stdin=subprocess.DEVNULL, capture_output=True, timeout=left,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self._dir.name},
                start_new_session=True, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolFailed(f"{Path(argv[0]).name} ran out of time") from exc
        except OSError as exc:
            raise ToolFailed(f"{Path(argv[0]).name} could not run: {exc}") from exc

    def fresh_output(self) -> Path:
        shutil.rmtree(self.output, ignore_errors=True)
        self.output.mkdir()
        return self.output

    def files(self) -> list[tuple[str, Path]]:
        """Regular files written by the tool, by name inside the archive; links and devices are skipped."""
        found = []
        for folder, dirs, names in os.walk(self.output, followlinks=False):
            for name in names:
                path = Path(folder, name)
                if stat.S_ISREG(path.lstat().st_mode):
                    found.append((path.relative_to(self.output).as_posix(), path))
        return sorted(found)

    def members(self) -> Iterator[Member]:
        for name, path in self.files():
            member = self.job.take(name, lambda path=path: path.open("rb"), path.lstat().st_size, self.compressed)
            if member is not None:
                yield member

