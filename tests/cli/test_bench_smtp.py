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


@pytest.mark.slow
def test_two_gateway_processes_are_measured_with_their_cpu(tmp_path):
    corpus = tmp_path / "messages"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"{i}.eml").write_bytes(make_message(subject=f"bench {i}"))
    args = ["bench", "smtp", str(corpus), "--rate", "10", "--seconds", "2", "--workers", "1", "--processes", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["processes"] == 2 and figures["finished"] == figures["accepted"] > 0
    assert figures["cpu_ms_per_message"]["gateway"] > 0 and figures["cpu_ms_per_message"]["scan"] > 0


async def test_saturation_search_brackets_the_highest_passing_rate():
    from kakuri.cli.bench import _find_saturation

    class Gateway:  # p99 grows past the bound above 130 msg/s
        async def measure(self, *, rate, seconds):
            offered = int(rate * seconds)
            return {"mode": f"open loop, {rate:g}", "offered": offered, "accepted": offered, "finished": offered,
                    "seconds": seconds, "accepted_per_second": rate, "latency_p50_ms": 10.0,
                    "latency_p99_ms": 100.0 if rate <= 130 else 900.0, "cpu_ms_per_message": {},
                    "load_average_1min": [0, 0]}

    found = await _find_saturation(Gateway(), start=50, seconds=10, p99_ms=250)
    assert found["saturation_rate"] <= 130 < found["first_failing_rate"]
    assert found["first_failing_rate"] - found["saturation_rate"] < 15
    assert found["at_saturation"]["latency_p99_ms"] == 100.0
