from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.settings import load_settings
from kakuri.store.knowledge import load_knowledge
from tests.builders import make_message

runner = CliRunner()


def _run(home, *args):
    result = runner.invoke(app, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_init_directory_and_learn_build_the_knowledge(tmp_path):
    home = tmp_path / "data"
    _run(home, "init", "--domain", "kitaboshi.example")
    assert 'our_domains = ["kitaboshi.example"]' in (home / "kakuri.toml").read_text()
    assert (home / "policy.toml").exists()
    _run(home, "init", "--domain", "kb-trading.example")  # a group company added later

    partners = tmp_path / "partners.csv"
    rows = "name_ja,name_romaji,email\n森田 浩二,Koji Morita,k-morita@hoshizora-denki.example\n"
    partners.write_bytes(rows.encode("cp932"))
    assert "imported 1 partner" in _run(home, "directory", "import", str(partners), "--kind", "partner")

    history = tmp_path / "history"
    history.mkdir()
    (history / "1.eml").write_bytes(
        make_message(from_="k-morita@hoshizora-denki.example", to="m@kb-trading.example", message_id="<h1@h.example>")
    )
    with (history / "box.mbox").open("wb") as mbox:
        mbox.write(b"From k-morita@hoshizora-denki.example Tue Sep  1 00:00:00 2020\n")
        reply = make_message(message_id="<h2@h.example>", headers={"In-Reply-To": "<h1@h.example>"})
        mbox.write(reply.replace(b"\r\n", b"\n"))
    assert "read 2 message(s), 2 new" in _run(home, "learn", str(history))

    knowledge = load_knowledge(load_settings(home))
    assert knowledge.our_domains == {"kitaboshi.example", "kb-trading.example"}
    assert knowledge.is_partner_domain("hoshizora-denki.example")
    assert knowledge.thread_by_reference(["h2@h.example"]).messages == 2
    assert knowledge.is_known_contact("k-morita@hoshizora-denki.example")


def test_directory_import_of_a_file_without_addresses_fails_clearly(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["--home", str(tmp_path / "d"), "directory", "import", str(bad), "--kind", "staff"])
    assert result.exit_code == 2
    assert "no e-mail column" in result.output
