"""The shared sample corpus through the whole CLI path a newcomer uses: init, directory import, learn, eval.

Every malicious family is quarantined and every benign message delivered (the sample is small; the
targets allow one false quarantine in ~400 normal mails on the larger unseen set).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kakuri.cli.main import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def _ok(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    from tests.conftest import SHARED

    if not (SHARED / "corpus").exists():
        pytest.skip("../shared is not beside this checkout")
    corpus = SHARED / "corpus"
    home = tmp_path_factory.mktemp("home")
    config = json.loads((corpus / "org" / "config.json").read_text())
    _ok("--home", home, "init", *sum((["--domain", d] for d in config["our_domains"]), []))
    _ok("--home", home, "directory", "import", corpus / "org" / "directory.csv", "--kind", "staff")
    _ok("--home", home, "directory", "import", corpus / "org" / "partners.csv", "--kind", "partner")
    _ok("--home", home, "learn", corpus / "history")
    out = home / "verdicts.jsonl"
    result = _ok("--home", home, "eval", corpus, "--jsonl", out)
    assert "detection rate" in result.stdout
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_every_malicious_message_is_quarantined(verdicts):
    missed = [(v["file"], v["family"], v["score"]) for v in verdicts if v["label"] == "malicious" and v["action"] not in ("quarantine", "reject")]
    assert not missed


def test_benign_mail_is_delivered(verdicts):
    flagged = [(v["file"], v["family"], v["symbols"]) for v in verdicts if v["label"] == "benign" and v["action"] in ("quarantine", "reject")]
    assert not flagged


def test_every_verdict_explains_itself(verdicts):
    for v in verdicts:
        assert v["reasons"], v["file"]
        if v["action"] == "quarantine":
            assert v["symbols"] and v["findings"], v["file"]
