"""`kakuri init --store URL`: the data folder's database is PostgreSQL from the start; no SQLite file is
made, and domains and directory land in PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.settings import load_settings
from tests.store.conftest import postgres_server, postgres_url  # noqa: F401 - the real server fixtures

runner = CliRunner()


@pytest.mark.postgres
def test_init_with_a_postgresql_store_writes_everything_there(tmp_path, postgres_url):  # noqa: F811
    home = tmp_path / "kakuri-data"
    result = runner.invoke(app, ["--home", str(home), "init", "--domain", "tokai-keiki.example", "--store", postgres_url])
    assert result.exit_code == 0, result.output
    assert not (home / "kakuri.db").exists()
    assert load_settings(home).section("store")["url"] == postgres_url
    staff = tmp_path / "staff.csv"
    staff.write_text("name_ja,name_romaji,email\n山田 太郎,Taro Yamada,taro@tokai-keiki.example\n", encoding="utf-8")
    assert runner.invoke(app, ["--home", str(home), "directory", "import", str(staff), "--kind", "staff"]).exit_code == 0
    assert not (home / "kakuri.db").exists()
    engine = create_engine(postgres_url)
    try:
        assert "alembic_version" in inspect(engine).get_table_names()
        with engine.connect() as db:
            tables = inspect(engine).get_table_names()
            dumped = " ".join(str(row) for table in tables for row in db.execute(text(f'SELECT * FROM "{table}"')))
        assert "tokai-keiki.example" in dumped and "taro@tokai-keiki.example" in dumped
    finally:
        engine.dispose()
    again = runner.invoke(app, ["--home", str(home), "init", "--store", postgres_url + "x"])
    assert again.exit_code == 2 and "another [store] url" in again.output


def test_init_store_refuses_other_schemes_before_writing_anything(tmp_path):
    home = tmp_path / "kakuri-data"
    for url, expected in (("postgres://u:pw@127.0.0.1/k", "use postgresql+psycopg://"), ("sqlite:///x.db", "SQLite is the default")):
        result = runner.invoke(app, ["--home", str(home), "init", "--store", url])
        assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output
        assert not (home / "kakuri.toml").exists() and not (home / "kakuri.db").exists()


def test_init_store_that_cannot_be_reached_leaves_no_config(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "kakuri-data"
    result = runner.invoke(app, ["--home", str(home), "init", "--store", f"postgresql+psycopg://k:secretpw@127.0.0.1:{port}/k"])
    assert result.exit_code == 2 and "cannot be opened" in result.output and "secretpw" not in result.output
    assert not (home / "kakuri.toml").exists() and not (home / "kakuri.db").exists()
