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


def test_warn_needs_contacts_and_a_from_address_and_preview_sends_nothing(tmp_path):
    _run(tmp_path, "incident", "open", "Emotet in sales")
    empty = _run(tmp_path, "incident", "warn", "1")
    assert empty.exit_code == 2 and "no contacts" in empty.output
    _run(tmp_path, "incident", "link", "1", "contact", "kondo@partner.example")
    unset = _run(tmp_path, "incident", "warn", "1")
    assert unset.exit_code == 2 and "from_address" in unset.output
    preview = _run(tmp_path, "incident", "warn", "1", "--preview", "--lang", "en")
    assert preview.exit_code == 0 and "1 recipient(s)" in preview.stdout and "Emotet" in preview.stdout
    assert not list((tmp_path / "spool").glob("*.msg"))
    (tmp_path / "kakuri.toml").write_text('[respond.warning]\nfrom_address = "security@tokai-keiki.example"\n')
    sent = _run(tmp_path, "incident", "warn", "1", "--rate", "0")
    assert "1 handed to the gateway" in sent.stdout and len(list((tmp_path / "spool").glob("*.msg"))) == 1
    out = tmp_path / "notify.csv"
    assert _run(tmp_path, "incident", "notify-list", "1", "--csv", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8-sig").splitlines()[1].startswith("kondo@partner.example,")


def test_bulk_release_refuses_an_unfiltered_selection_and_dry_run_lists_nothing_held(tmp_path):
    unfiltered = _run(tmp_path, "release", "--reason", "all clear")
    assert unfiltered.exit_code == 2 and "narrow the selection" in unfiltered.output
    assert _run(tmp_path, "release", "--all").exit_code == 2  # --reason is mandatory
    dry = _run(tmp_path, "release", "--all", "--state", "held", "--state", "quarantined", "--reason", "x y z", "--dry-run")
    assert dry.exit_code == 0 and "would release 0 message(s)" in dry.stdout
    wrong = _run(tmp_path, "release", "--all", "--state", "delivered", "--reason", "all clear")
    assert wrong.exit_code == 2 and "only held or quarantined" in wrong.output
