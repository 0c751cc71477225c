from typer.testing import CliRunner

from kakuri.cli.main import app

runner = CliRunner()


def _run(home, *args):
    result = runner.invoke(app, ["--home", str(home), *args])
    return result


def test_emergency_on_status_off(tmp_path):
    assert _run(tmp_path, "emergency", "on", "archives", "--reason", "outbreak").exit_code == 0
    status = _run(tmp_path, "emergency", "status")
    assert "archives" in status.stdout and "outbreak" in status.stdout
    assert _run(tmp_path, "emergency", "off", "archives").exit_code == 0
    assert "no emergency policy" in _run(tmp_path, "emergency", "status").stdout


def test_hold_sender_needs_a_value(tmp_path):
    result = _run(tmp_path, "emergency", "on", "hold_sender", "--reason", "x")
    assert result.exit_code == 2
    assert "needs a value" in result.output


def test_incident_open_link_note_report_close(tmp_path):
    assert "opened incident 1" in _run(tmp_path, "incident", "open", "Emotet in sales").stdout
    assert _run(tmp_path, "incident", "link", "1", "host", "10.20.1.5", "10.20.1.6").exit_code == 0
    assert _run(tmp_path, "incident", "note", "1", "PCs unplugged").exit_code == 0
    report = _run(tmp_path, "incident", "report", "1")
    assert "10.20.1.6" in report.stdout and "PCs unplugged" in report.stdout
    assert _run(tmp_path, "incident", "close", "1", "--summary", "done").exit_code == 0
    assert "closed" in _run(tmp_path, "incident", "list").stdout
    missing = _run(tmp_path, "incident", "show", "42")
    assert missing.exit_code == 2 and "no incident 42" in missing.output
