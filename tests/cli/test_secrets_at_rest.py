"""Secrets at rest: the data folder is created 0700 and its config, database and key 0600; wider modes are
reported; secrets may come from files or environment variables instead of kakuri.toml."""

from __future__ import annotations

import logging
import stat

import pytest
from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.settings import SettingsError, load_settings, permission_warnings
from kakuri.store.config import open_stores

runner = CliRunner()


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_a_private_data_folder(tmp_path):
    home = tmp_path / "kakuri-data"
    result = runner.invoke(app, ["--home", str(home), "init", "--domain", "tokai-keiki.example"])
    assert result.exit_code == 0, result.output
    assert mode(home) == 0o700
    for name in ("kakuri.toml", "policy.toml", "kakuri.db", "tls/key.pem"):
        assert mode(home / name) == 0o600, name
    assert permission_warnings(home) == [] and "warning" not in result.output


def test_wider_modes_are_reported_with_the_fix(tmp_path, caplog):
    home = tmp_path / "kakuri-data"
    assert runner.invoke(app, ["--home", str(home), "init"]).exit_code == 0
    (home / "kakuri.toml").chmod(0o644)
    home.chmod(0o755)
    warnings = permission_warnings(home)
    assert len(warnings) == 2 and any(f"chmod 600 {home / 'kakuri.toml'}" in w for w in warnings)
    again = runner.invoke(app, ["--home", str(home), "init"])
    assert "readable by others" in again.output
    from kakuri.cli.serve import warn_permissions

    with caplog.at_level(logging.WARNING, logger="kakuri"):
        warn_permissions(load_settings(home))  # what serve, run-default and milter do before starting
    assert sum("readable by others" in r.message for r in caplog.records) == 2


def test_database_url_from_a_file_or_the_environment(tmp_path, monkeypatch):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    elsewhere = tmp_path / "db" / "kakuri-elsewhere.db"
    elsewhere.parent.mkdir()
    secret = tmp_path / "db-url"
    secret.write_text(f"sqlite:///{elsewhere}\n", encoding="utf-8")
    (home / "kakuri.toml").write_text(f'[store]\nurl_file = "{secret}"\n', encoding="utf-8")
    settings = load_settings(home)
    assert settings.section("store")["url"] == f"sqlite:///{elsewhere}"
    open_stores(settings).close()
    assert elsewhere.exists() and not (home / "kakuri.db").exists()

    (home / "kakuri.toml").write_text('[store]\nurl_env = "KAKURI_TEST_DB_URL"\n', encoding="utf-8")
    monkeypatch.setenv("KAKURI_TEST_DB_URL", "postgresql+psycopg://kakuri:pw@127.0.0.1/kakuri")
    assert load_settings(home).section("store")["url"].endswith("@127.0.0.1/kakuri")
    monkeypatch.delenv("KAKURI_TEST_DB_URL")
    with pytest.raises(SettingsError, match="KAKURI_TEST_DB_URL, which is not set"):
        load_settings(home)


def test_webhook_header_from_a_file_and_conflicts_are_errors(tmp_path):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    token = tmp_path / "edr-token"
    token.write_text("Bearer s3cret\n", encoding="utf-8")
    (home / "kakuri.toml").write_text(
        "[[respond.isolation]]\nname = 'edr'\nkind = 'webhook'\nurl = 'http://127.0.0.1:9/isolate'\n"
        f"headers = {{ Authorization_file = '{token}' }}\n"
        "[respond.clawback]\nca_file = '/etc/ssl/ca.pem'\n", encoding="utf-8")
    settings = load_settings(home)
    assert settings.section("respond")["isolation"][0]["headers"] == {"Authorization": "Bearer s3cret"}
    assert settings.section("respond")["clawback"] == {"ca_file": "/etc/ssl/ca.pem"}  # a path its section reads
    (home / "kakuri.toml").write_text(f'[store]\nurl = "sqlite://"\nurl_file = "{token}"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="both given"):
        load_settings(home)
    (home / "kakuri.toml").write_text(f'[store]\nurl_file = "{tmp_path / "missing"}"\n', encoding="utf-8")
    result = runner.invoke(app, ["--home", str(home), "trace"])
    assert result.exit_code == 2 and "cannot be read" in result.output and "Traceback" not in result.output
