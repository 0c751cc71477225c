"""Every fuzz target on its seeds and on every input a fuzzing run ever crashed it with; and a short
atheris run per target (marker `fuzz`: about 80 s in all, part of `make test`)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.harnesses import TARGETS
from tests.fuzz.run import REGRESSIONS, ROOT
from tests.fuzz.seeds import seeds

KEPT = sorted((p.parent.name, p) for p in REGRESSIONS.glob("*/*") if p.is_file())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_seeds_run_clean(target):
    assert seeds(target), "a target without seeds fuzzes from nothing"
    for data in seeds(target):
        TARGETS[target](data)


@pytest.mark.parametrize(("target", "path"), KEPT, ids=[f"{t}/{p.name}" for t, p in KEPT])
def test_kept_crash_input_runs_clean(target, path):
    TARGETS[target](path.read_bytes())


@pytest.mark.slow
@pytest.mark.fuzz
@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is in the test extra")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_short_fuzzing_run_finds_nothing(target, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", target, "--seconds", "30", "--runs", "4000", "--instrument", "kakuri", "--seed", "1",
         "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    log = (tmp_path / f"{target}.log").read_text(errors="replace")
    assert run.returncode == 0, f"{run.stdout}\n{log[-3000:]}"
    assert "Done" in log and "stat::number_of_executed_units" in log
