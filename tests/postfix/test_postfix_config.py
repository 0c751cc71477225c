"""`kakuri postfix-config` prints snippets for this data folder's ports (the real-Postfix tests run them)."""

from __future__ import annotations

from typer.testing import CliRunner

from kakuri.cli.main import app


def config(tmp_path, mode: str, toml: str) -> str:
    home = tmp_path / "kakuri-data"
    home.mkdir(exist_ok=True)
    (home / "kakuri.toml").write_text(toml)
    result = CliRunner().invoke(app, ["--home", str(home), "postfix-config", "--mode", mode])
    assert result.exit_code == 0, result.output
    return result.output


def test_content_filter_snippet_uses_our_listener_and_next_hop(tmp_path):
    out = config(tmp_path, "content-filter", '[smtp]\nlisten = "127.0.0.1:10025"\n[delivery]\nnext_hop = "127.0.0.1:10036"\n')
    assert "content_filter = kakuri-scan:[127.0.0.1]:10025" in out
    assert "127.0.0.1:10036 inet n" in out and "-o content_filter=\n" in out and "no_milters" in out
    assert "smtpd_milters" not in out.split("## master.cf")[0]
    # next_hop already points at the re-injection listener; Postfix queues on the final dot (receive/replay.py)
    assert "## kakuri.toml\n[delivery]\nnext_hop_commits_on_dot = true" in out and "next_hop =" not in out
    out = config(tmp_path, "content-filter", '[delivery]\nnext_hop = "127.0.0.1:10036"\nnext_hop_commits_on_dot = true\n')
    assert "## kakuri.toml" not in out  # nothing left to set


def test_milter_snippet_tempfails_while_kakuri_is_down_and_reinjects_without_milter(tmp_path):
    out = config(tmp_path, "milter", '[milter]\nlisten = "127.0.0.1:9901"\n')
    main = out.split("## master.cf")[0]
    assert "smtpd_milters = inet:127.0.0.1:9901" in main and "milter_default_action = tempfail" in main
    assert "content_filter" not in main
    # The embedded default delivers to a Maildir: the output says which next hop to set.
    assert 'next_hop = "127.0.0.1:10026"' in out and "127.0.0.1:10026 inet n" in out
