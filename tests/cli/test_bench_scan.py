from typer.testing import CliRunner

from kakuri.cli.main import app
from tests.builders import make_message
from tests.builders_archive import zip_of


def test_bench_scan_reports_throughput_of_every_message(tmp_path):
    mail = tmp_path / "mail"
    mail.mkdir()
    for i in range(5):
        (mail / f"{i}.eml").write_bytes(make_message(subject=f"m{i}", attachments=[("a.zip", zip_of({"a.js": b"WScript"}))]))
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "kd"), "bench", "scan", str(mail), "--seconds", "1", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "msg/s with 2 worker(s)" in result.output and "5 distinct messages" in result.output
