"""`kakuri bench smtp`: a real gateway child process, closed and open loop, every accepted message finished."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kakuri.cli.main import app
from tests.builders import make_message


@pytest.mark.slow
@pytest.mark.parametrize("load", [["--rate", "10"], ["--clients", "2"]])
def test_every_accepted_message_is_finished_and_timed(tmp_path, load):
    corpus = tmp_path / "messages"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"{i}.eml").write_bytes(make_message(subject=f"bench {i}"))
    result = CliRunner().invoke(app, ["bench", "smtp", str(corpus), *load, "--seconds", "2", "--workers", "1"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["accepted"] > 0 and figures["finished"] == figures["accepted"]
    assert figures["latency_p99_ms"] >= figures["latency_p50_ms"] > 0
    if "--rate" in load:
        assert figures["mode"].startswith("open loop") and figures["offered"] == 20
