"""`kakuri user`: accounts from the command line; the password never comes from an argument."""

from __future__ import annotations

from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.settings import load_settings
from kakuri.store import accounts
from kakuri.store.config import open_stores
from tests.web.factories import quick_argon2


def _run(home, *args, stdin=None):
    with quick_argon2():
        return CliRunner().invoke(app, ["--home", str(home), "user", *args], input=stdin)


def test_user_add_reads_the_password_from_stdin_and_hashes_it(tmp_path):
    home = tmp_path / "data"
    result = _run(home, "add", "sato", "--role", "analyst", stdin="a long passphrase\n")
    assert result.exit_code == 0, result.output
    stores = open_stores(load_settings(home))
    with quick_argon2(), stores.sessions() as db:
        user = accounts.authenticate(db, "sato", "a long passphrase")
        assert user is not None and user.role == "analyst"
        assert "a long passphrase" not in user.password_hash
    stores.close()


def test_user_add_refuses_a_short_password_and_an_unknown_role(tmp_path):
    assert _run(tmp_path, "add", "ito", "--role", "viewer", stdin="short\n").exit_code == 1
    assert _run(tmp_path, "add", "ito", "--role", "root", stdin="a long passphrase\n").exit_code == 1
    assert "ito" not in _run(tmp_path, "list").output


def test_user_token_prints_a_working_token_once(tmp_path):
    _run(tmp_path, "add", "ci", "--role", "viewer", stdin="a long passphrase\n")
    token = _run(tmp_path, "token", "ci", "--label", "nightly").output.strip()
    stores = open_stores(load_settings(tmp_path))
    with stores.sessions() as db:
        assert accounts.user_for_token(db, token).name == "ci"
    stores.close()
    assert _run(tmp_path, "token", "nobody").exit_code == 1
