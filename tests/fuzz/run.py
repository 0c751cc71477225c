"""Coverage-guided fuzzing of the targets in `harnesses.py` with atheris (libFuzzer for Python).

    .venv/bin/python -m tests.fuzz.run mime --seconds 60            # one target
    nice -n 19 .venv/bin/python -m tests.fuzz.run all --seconds 600  # each target in turn, one process at a time

Seeds come from `seeds.py` and the kept crash inputs (`regressions/<target>/`); the growing corpus
and any crash, timeout or out-of-memory input go to `--workdir` (default /tmp/kakuri-fuzz). Each
target runs in its own process under libFuzzer's limits: `-timeout` seconds per input (a hang) and
`-rss_limit_mb` (a memory blow-up). The exit status is non-zero when any target found something;
copy the input into `regressions/<target>/` and fix the cause.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REGRESSIONS = HERE / "regressions"
MAX_RESTARTS = 5
INSTRUMENTED = (
    "kakuri", "email", "html", "oletools", "olefile", "msoffcrypto", "py7zr", "pycdlib", "rarfile", "dissect",
    "libarchive", "zipfile", "tarfile", "pyzipper",
)


def write_seeds(target: str, corpus: Path) -> None:
    from tests.fuzz.seeds import seeds

    corpus.mkdir(parents=True, exist_ok=True)
    inputs = list(seeds(target))
    kept = REGRESSIONS / target
    if kept.is_dir():
        inputs += [p.read_bytes() for p in sorted(kept.iterdir()) if p.is_file()]
    for data in inputs:
        (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)


def child(target: str, libfuzzer_args: list[str]) -> None:
    import atheris

    # Instrumenting the libraries too guides the fuzzer through them, but costs minutes of start-up on a
    # busy machine: short runs instrument our own code only.
    include = ["kakuri"] if os.environ.get("KAKURI_FUZZ_INSTRUMENT") == "kakuri" else list(INSTRUMENTED)
    with atheris.instrument_imports(include=include):
        from tests.fuzz import harnesses
        import kakuri.pipeline  # noqa: F401  (every detector and format, instrumented up front)
        import kakuri.unpack.formats.disk_image, kakuri.unpack.formats.rar, kakuri.unpack.formats.sevenzip  # noqa
        import kakuri.unpack.formats.onenote, kakuri.unpack.formats.tnef, kakuri.unpack.formats.zip  # noqa
        import kakuri.unpack.formats.tar, kakuri.unpack.formats.compressed  # noqa
        harnesses._scanner()
    function = harnesses.TARGETS[target]
    atheris.Setup([sys.argv[0], *libfuzzer_args], function)
    atheris.Fuzz()


def run(target: str, seconds: int, workdir: Path, rss_mb: int, timeout: int, instrument: str = "all",
        seed: int | None = None, runs: int | None = None) -> int:
    corpus = workdir / "corpus" / target
    crashes = workdir / "crashes" / target
    crashes.mkdir(parents=True, exist_ok=True)
    write_seeds(target, corpus)
    args = [
        str(corpus), f"-max_total_time={seconds}", f"-timeout={timeout}", f"-rss_limit_mb={rss_mb}",
        f"-artifact_prefix={crashes}/", "-max_len=262144", "-print_final_stats=1",
    ]
    if seed is not None:  # the same mutations every time: a CI run finds what the last one found, no more
        args.append(f"-seed={seed}")
    if runs is not None:  # with a seed, exactly the inputs a run here tried, whatever the machine's speed
        args.append(f"-runs={runs}")
    started = time.monotonic()
    log = workdir / f"{target}.log"
    code, worst = 0, 0
    # libFuzzer stops at the first finding; start again (same corpus) until the time is used, so one
    # shallow bug does not end a long run. Each restart re-finds known bugs quickly, hence the cap.
    for _attempt in range(MAX_RESTARTS):
        left = seconds - (time.monotonic() - started)
        if left < 5:
            break
        args[1] = f"-max_total_time={int(left)}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "KAKURI_FUZZ_INSTRUMENT": instrument}
        with log.open("ab") as out:
            code = subprocess.call([sys.executable, "-m", "tests.fuzz.run", "--child", target, "--", *args], cwd=ROOT,
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
        worst = max(worst, code)
        if code == 0:
            break
    code = worst
    found = sorted(p.name for p in crashes.iterdir())
    print(f"{target}: {time.monotonic() - started:.0f} s, exit {code}, corpus {len(list(corpus.iterdir()))}, "
          f"findings {found or 'none'} (log {log})", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    from tests.fuzz.harnesses import TARGETS

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1], argv[3:] if len(argv) > 2 and argv[2] == "--" else argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=[*TARGETS, "all"])
    parser.add_argument("--seconds", type=int, default=60, help="per target")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kakuri-fuzz"))
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--timeout", type=int, default=20, help="seconds one input may take")
    parser.add_argument("--instrument", choices=["all", "kakuri"], default="all",
                        help="coverage of our code and the parsing libraries, or of our code only (faster start)")
    parser.add_argument("--runs", type=int, default=None, help="stop after this many inputs (with --seed: reproducible)")
    parser.add_argument("--seed", type=int, default=None, help="libFuzzer's random seed (default: a new one each run)")
    options = parser.parse_args(argv)
    targets = list(TARGETS) if options.target == "all" else [options.target]
    codes = [run(t, options.seconds, options.workdir, options.rss_limit_mb, options.timeout, options.instrument,
                 options.seed, options.runs) for t in targets]
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(main())
