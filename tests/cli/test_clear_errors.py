"""Environment errors are one line with what to do and a non-zero exit, never a traceback (nor a password)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kakuri.cli.main import app

KAKURI = Path(sys.executable).with_name("kakuri")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def home_with(tmp_path, config: str) -> Path:
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "kakuri.toml").write_text(config, encoding="utf-8")
    return home


@pytest.mark.parametrize(("config", "expected"), [
    ('[store]\nurl = "postgres://kakuri:hunter2@127.0.0.1/kakuri"\n', "use postgresql+psycopg://"),
    ('[store]\nurl = "mysql://kakuri:hunter2@127.0.0.1/kakuri"\n', "scheme 'mysql' is not supported"),
    ('[spool]\nmax_bytes = "lots"\n', "[spool] max_bytes: Input should be a valid integer"),
    ('[web]\ntime_zone = "Mars/Olympus"\n', "unknown time zone 'Mars/Olympus'"),
    ('[smtp]\nlisten = 25\n', "[smtp] listen"),
    ('[org\n', "Fix the syntax"),
])
def test_bad_configuration_is_one_line(tmp_path, config, expected):
    home = home_with(tmp_path, config)
    result = CliRunner().invoke(app, ["--home", str(home), "trace"])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output and "hunter2" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unreachable_database_is_one_line_without_the_password(tmp_path):
    home = home_with(tmp_path, f'[store]\nurl = "postgresql+psycopg://kakuri:hunter2@127.0.0.1:{closed_port()}/kakuri"\n')
    for args in (["trace"], ["quarantine", "list"], ["incident", "list"], ["user", "list"]):
        result = CliRunner().invoke(app, ["--home", str(home), *args])
        assert result.exit_code == 2, (args, result.output)
        line = result.output.strip()
        assert "cannot be opened" in line and "127.0.0.1" in line and "***" in line, line
        assert "hunter2" not in line and "\n" not in line


def test_the_installed_command_prints_no_traceback(tmp_path):
    home = home_with(tmp_path, f'[store]\nurl = "postgresql+psycopg://kakuri:hunter2@127.0.0.1:{closed_port()}/kakuri"\n')
    done = subprocess.run([str(KAKURI), "--home", str(home), "trace"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == "" and done.stderr.count("\n") == 1 and done.stderr.startswith("error: database")
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
