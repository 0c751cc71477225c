"""Attacker-controlled text reaches every output as text: CLI tables and lines, console pages, the
incident report and the warning mail. Nothing crashes, nothing is interpreted (rich markup, terminal
escapes, HTML, bidi overrides), nothing floods.

`test_every_table_command_is_fed_hostile_text` enumerates the CLI commands that print tables, so a new
one fails here until it is added to TABLE_RUNS; `test_cli_modules_print_only_through_output` keeps
rich's Console and Table (which parse markup) out of the CLI modules.
"""

from __future__ import annotations

import ast
import inspect
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from kakuri.cli import output
from kakuri.cli.main import app
from kakuri.display import markdown_text, visible
from kakuri.receive.spool import Spool, SpoolEntry
from kakuri.model import Direction, Envelope
from kakuri.respond import emergency, incidents
from kakuri.respond.report import build_report, render_report
from kakuri.respond.warnings import WarningConfig, compose_warning, render_text, send_warnings
from kakuri.store import accounts
from kakuri.store.config import open_stores
from kakuri.store.messages import Message, MessageState, Recipient
from kakuri.store.retention import RetroJob
from tests.web.factories import login, quick_argon2, store_message

MARKUP = "[/] [link=http://evil.example/]click[/link] [bold red]x[/]"
ANSI = "\x1b[5;31mBLINK\x1b[0m \x1b]8;;http://evil.example/\x07osc\x1b]8;;\x07"
HTML = "<script>alert(1)</script><img src=x onerror=alert(2)>"
RTL = "invoice\u202efdp.exe"
NUL = "nul\x00byte"
NEWLINES = "line1\nInjected: header\r\n\r\nbody"
HUGE = "A" * 100_000
EMOJI = ":warning: :smile:"
HOSTILE = (MARKUP, ANSI, HTML, RTL, NUL, NEWLINES, HUGE, EMOJI)
ONE_LINE = MARKUP + ANSI + RTL + HTML  # for fields that hold one token (user names, queue values)

FORBIDDEN = ("\x1b[5;31m", "\x1b]8;;", "\u202e", "\x00", "\u26a0")  # U+26A0: :warning: turned emoji


def assert_shown_not_obeyed(text: str, *, html: bool = False) -> None:
    """Terminal text may show `<script>` as it is; a page or a Markdown document must not."""
    for raw in FORBIDDEN + (("<script>", "<img") if html else ()):
        assert raw not in text, f"{raw!r} reached the output"
    assert len(text) < 1_000_000, "a 100 kB value flooded the output"


@pytest.fixture
def hostile_home(settings):
    """A data folder where every field that reaches output holds hostile text."""
    stores = open_stores(settings)
    qids = []
    for index, value in enumerate(HOSTILE):
        qids.append(store_message(
            stores, raw=b"Subject: stored\r\n\r\nbody\r\n", subject=value, mail_from=f"{value}@evil.example"[:300],
            from_header=value, rcpts=(f"{value[:200]}@tokai-keiki.example",), queue_id=f"H{index:02d}",
            findings=[{"symbol": "FILE_SCRIPT", "detector": "file_types", "evidence": {"name": value}}],
        ))
    # The same sender, delivered: `incident iocs` finds it by retro-search and prints it in a table.
    delivered = store_message(stores, raw=b"Subject: stored\r\n\r\nbody\r\n", action="deliver", subject=MARKUP + ANSI,
                              mail_from=f"{MARKUP}@evil.example", rcpts=(f"{RTL}@tokai-keiki.example",), queue_id="D00")
    store_message(stores, raw=b"Subject: stored\r\n\r\nbody\r\n", action="deliver", subject=MARKUP + ANSI,
                  mail_from=f"{MARKUP}@evil.example", rcpts=(f"{RTL}@tokai-keiki.example",), queue_id="D01")
    with stores.sessions() as db:
        for rcpt in db.query(Recipient).filter(Recipient.queue_id == delivered):
            rcpt.last_reply = MARKUP + ANSI
        db.get(Message, "D01").state = MessageState.DELIVERED
        inc = incidents.open_incident(db, title=MARKUP + ANSI + RTL, actor=HTML, summary=NEWLINES)
        for kind in ("host", "account", "contact", "indicator"):
            for value in HOSTILE:
                incidents.link(db, inc.id, kind=kind, value=value, actor=MARKUP, note=ANSI)
        incidents.link(db, inc.id, kind="message", value="H00", actor="t")
        incidents.add_note(db, inc.id, actor=RTL, text=HUGE + MARKUP)
        # a retro-scan job named after an imported file, its error quoting a feed's answer
        db.add(RetroJob(reason=(MARKUP + ANSI + RTL)[:200], state="failed", rule_version="v1", full=False,
                        since=datetime.now(UTC), actor=HTML, error=HUGE + MARKUP))
        emergency.enable_mode(db, kind=emergency.ModeKind.HOLD_SENDER, value="[/][link=http://evil.example/]x@evil.example",
                              actor=ANSI, reason=HTML + NUL + RTL)  # the value itself must be one printable token
        db.commit()
    spool = Spool(settings.home / "spool")
    spool.write(SpoolEntry(queue_id="D00", envelope=Envelope(mail_from=MARKUP, rcpt_tos=(RTL,), direction=Direction.INBOUND),
                           raw=b"Subject: x\r\n\r\n", received_at=0.0))
    with quick_argon2(), stores.sessions.begin() as db:
        user = accounts.add_user(db, name=("[/]\x1b[31m\u202e<b>" + "x" * 10)[:64], role="viewer",
                                 password="correct horse battery staple", time_zone=ANSI)
        accounts.create_token(db, user, label=MARKUP + ANSI)
    mail_dir = settings.home.parent / "mail"
    mail_dir.mkdir()
    for name in ("[bold]x[not bold]", "\x1b[31mred", "a\u202efdp.exe", "[link=evil.example]l"):  # no "/" in a file name
        (mail_dir / f"{name}.eml").write_bytes(
            b"From: a@evil.example\r\nTo: b@tokai-keiki.example\r\nSubject: s\r\n\r\nhttp://198.51.100.7:8080/x.exe\r\n")
    yield settings, stores, inc.id, mail_dir
    stores.close()


# Every CLI command that prints a table, with arguments that make it print hostile rows.
TABLE_RUNS = {
    "trace": lambda ctx: ["trace"],
    "quarantine list": lambda ctx: ["quarantine", "list", "--state", "all"],
    "queue": lambda ctx: ["queue"],
    "incident list": lambda ctx: ["incident", "list"],
    "incident show": lambda ctx: ["incident", "show", str(ctx[2])],
    "incident iocs": lambda ctx: ["incident", "iocs", str(ctx[2]), "H00"],
    "emergency status": lambda ctx: ["emergency", "status"],
    "scan": lambda ctx: ["scan", str(ctx[3]), "--show", "all"],
    "user tokens": lambda ctx: ["user", "tokens"],
    "retro-scan": lambda ctx: ["retro-scan", "--jobs"],
    # Its table (PostgreSQL only) shows node ids and host names from the nodes' own kakuri.toml and
    # gethostname(), never text from mail; on SQLite it prints one line of counts.
    "status": None,
    # Synthetic mail it generated itself into a throwaway PostgreSQL; its tables are page names and timings.
    "bench console": None,
}
LINE_RUNS = {  # commands that print values from mail or the database as plain lines
    "user list": ["user", "list"],
    "release --dry-run": ["release", "--all", "--state", "quarantined", "--dry-run", "-r", "x"],
    "incident warn --preview": None,  # needs the incident id: see test_plain_line_commands
    "quarantine show": ["quarantine", "show", "H01"],
    "trace --jsonl": ["trace", "--jsonl"],
    "quarantine list --jsonl": ["quarantine", "list", "--jsonl"],
    "directory show": ["directory", "show"],
}

runner = CliRunner()


def invoke(settings, args):
    # color=True: click would strip escapes from a non-terminal otherwise, hiding what a terminal gets.
    result = runner.invoke(app, ["--home", str(settings.home), *args], color=True, env={"COLUMNS": "1000"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _table_commands() -> set[str]:
    """CLI commands whose function, or a function of its module it calls, builds `output.table(...)`."""
    root = typer.main.get_command(app)
    found = set()

    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        function = inspect.unwrap(command.callback)
        if function.__name__ in _table_builders(inspect.getmodule(function)):
            found.add(" ".join(path))

    walk(root, [])
    return found


def _table_builders(module) -> set[str]:
    tree = ast.parse(inspect.getsource(module))
    calls = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            calls[node.name] = {getattr(n.func, "attr", None) or getattr(n.func, "id", None)
                                for n in ast.walk(node) if isinstance(n, ast.Call)}
    builders = {name for name, called in calls.items() if "table" in called}
    while True:
        more = {name for name, called in calls.items() if called & builders} - builders
        if not more:
            return builders
        builders |= more


def test_every_table_command_is_fed_hostile_text():
    missing = _table_commands() - set(TABLE_RUNS)
    assert not missing, f"add {sorted(missing)} to TABLE_RUNS with hostile rows"


NOT_THROUGH_OUTPUT = {
    "output.py": "the one place",
    "evaluate.py": "escapes its one value from mail (the misses) with rich.markup.escape",
    # hunt's status lines (its own words and the operator's file names) still use markup; its table and
    # lines with hosts and accounts from logs go through output (hunt_output.py, tested below).
    "hunt.py": "status lines only",
}


def test_cli_modules_print_only_through_output():
    cli = Path(output.__file__).parent
    for path in cli.glob("*.py"):
        if path.name in NOT_THROUGH_OUTPUT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in ("rich.console", "rich.table", "rich.logging"):
                pytest.fail(f"{path.name} imports {node.module}: print through kakuri.cli.output")


@pytest.mark.parametrize("command", sorted(k for k, v in TABLE_RUNS.items() if v))
def test_table_commands_show_hostile_text_as_written(hostile_home, command):
    result = invoke(hostile_home[0], TABLE_RUNS[command](hostile_home))
    assert result.exit_code == 0, result.output
    assert_shown_not_obeyed(result.output)
    if command != "scan":
        assert "[/]" in result.output and "[link=http://evil.example/]" in result.output  # shown, not parsed
    if command in ("trace", "quarantine list", "incident show"):
        assert "\\u202e" in result.output and "\\x1b[5;31m" in result.output  # visible as escapes
    if command == "incident show":
        assert "… (+" in result.output  # the 100 kB value is cut


def test_scan_table_shows_hostile_file_names(hostile_home):
    out = invoke(hostile_home[0], ["scan", str(hostile_home[3]), "--show", "all"]).output
    assert "[bold]x[not bold]" in out and "[link=evil.example]l" in out and "\\x1b[31mred" in out and "a\\u202efdp.exe" in out


@pytest.mark.parametrize("command", sorted(k for k, v in LINE_RUNS.items() if v))
def test_plain_line_commands_show_hostile_text_as_written(hostile_home, command):
    result = invoke(hostile_home[0], LINE_RUNS[command])
    assert result.exit_code == 0, result.output
    assert_shown_not_obeyed(result.output)


def test_warning_preview_and_isolation_output_with_hostile_incident(hostile_home):
    settings, _, incident_id, _ = hostile_home
    preview = invoke(settings, ["incident", "warn", str(incident_id), "--preview"])
    assert preview.exit_code == 0, preview.output
    assert_shown_not_obeyed(preview.output)
    bad = invoke(settings, ["incident", "note", "999", MARKUP])
    assert bad.exit_code == 2 and "no incident 999" in bad.output


def test_errors_quote_hostile_values_as_text(hostile_home):
    result = invoke(hostile_home[0], ["quarantine", "show", MARKUP + ANSI])
    assert result.exit_code == 1
    assert_shown_not_obeyed(result.output)


def test_console_pages_show_hostile_text_escaped(hostile_home):
    from fastapi.testclient import TestClient

    from kakuri.web.app import create_app
    from tests.web.factories import add_users

    settings, stores, incident_id, _ = hostile_home
    with quick_argon2():
        add_users(stores)
        client = TestClient(create_app(settings, stores=stores))
        assert login(client, "admin").status_code == 303
        for page in ("/", "/quarantine?state=all", "/quarantine/H00", "/quarantine/H02", "/quarantine/H03", "/trace",
                     "/incidents", f"/incidents/{incident_id}", "/emergency", "/audit", "/users",
                     f"/incidents/{incident_id}/report?format=html"):
            response = client.get(page)
            assert response.status_code == 200, (page, response.status_code)
            try:
                assert_shown_not_obeyed(response.text, html=True)
            except AssertionError as exc:
                raise AssertionError(f"{page}: {exc}") from None
        assert "&lt;script&gt;" in client.get("/quarantine/H02").text
        assert "invoice\\u202efdp.exe" in client.get("/quarantine/H03").text


def test_report_markdown_and_html_escape_every_value(hostile_home):
    _, stores, incident_id, _ = hostile_home
    with stores.sessions() as db:
        report = build_report(db, incident_id)
        md, html = render_report(report, "md"), render_report(report, "html")
    assert_shown_not_obeyed(html, html=True)
    assert_shown_not_obeyed(md.replace("\\<", ""), html=True)  # escaped tags are text in Markdown
    assert "\\[link=http://evil.example/\\]" in md and "\\<img src=x" in md
    timeline = [line for line in md.splitlines() if line.startswith("| 20")]
    assert timeline and all(line.count(" | ") == 2 for line in timeline)  # no value adds a table cell
    assert not any(line.startswith("Injected:") for line in md.splitlines())
    assert "&lt;img src=x" in html


def test_warning_mail_has_no_injected_header_and_hostile_contacts_fail_on_their_own(hostile_home):
    settings, stores, incident_id, _ = hostile_home
    config = WarningConfig(from_address="info@tokai-keiki.example", organisation_en=MARKUP + NEWLINES, language="en",
                           charset="utf-8", rate_per_minute=0)
    text = render_text(config, our_domains=[HTML, RTL], incident_ref="INC-1", home=None)
    assert "\u202e" not in text and "\\u202e" in text
    with pytest.raises(ValueError):
        compose_warning(config, "victim@partner.example\r\nBcc: everyone@example.com", text)
    sent = []

    class Sender:
        def send(self, raw, mail_from, rcpt):
            sent.append((raw, rcpt))
            return True, "250 ok", None

    with stores.sessions() as db:
        incidents.link(db, incident_id, kind="contact", value="taro@partner.example", actor="t")
        counts = send_warnings(db, incident_id, config=config, sender=Sender(), our_domains=["tokai-keiki.example"],
                               actor="t", sleep=lambda s: None)
    assert [rcpt for _, rcpt in sent] == ["taro@partner.example"]
    assert counts["failed"] == len(HOSTILE) and counts["sent"] == 1
    headers = sent[0][0].split(b"\r\n\r\n", 1)[0]
    assert b"Injected" not in headers and b"Bcc" not in headers


def test_visible_and_markdown_text_basics():
    assert visible("a\x1b[31mb\u202ec\x00d\ud800") == "a\\x1b[31mb\\u202ec\\x00d\\ud800"
    assert visible("日本語\u3000テスト 👨\u200d👩") == "日本語\u3000テスト 👨\u200d👩"
    assert visible("x" * 50, limit=10) == "x" * 10 + "… (+40 characters)"
    assert visible("a\nb", newlines=True) == "a\nb" and visible("a\nb") == "a\\x0ab"
    assert markdown_text("[x](javascript:y) | <b>") == "\\[x\\]\\(javascript:y\\) \\| \\<b\\>"
    assert output.json_text({"s": "a\u202eb\x7f"}) == '{"s": "a\\u202eb\\u007f"}'


def test_gateway_log_lines_show_hostile_values_on_one_line(capsys):
    import logging

    from kakuri.cli.serve import _logging

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        _logging(False)
        logging.getLogger("kakuri.test").warning("rejected %s from %s", NEWLINES + ANSI, RTL)
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = saved
    err = capsys.readouterr().err
    assert_shown_not_obeyed(err)
    line = [l for l in err.splitlines() if "rejected" in l]
    assert len(line) == 1 and "Injected: header" in line[0] and "\\x0a" in line[0]


@pytest.mark.parametrize("fmt", ["table", "lines"])
def test_hunt_results_show_hostile_hosts_and_accounts_as_written(fmt):
    import io

    from kakuri.cli.hunt_output import print_records

    records = [{"host": MARKUP + ANSI, "hostname": RTL + HTML, "score": 12.0, "verdict": "infected",
                "first_seen": "2026-12-01T00:00:00", "notify": [NUL], "evidence": [
                    {"symbol": "HUNT_FEED_C2", "evidence": {"dst": NEWLINES, "url": HUGE}}]},
               {"account": "[/]" + RTL, "score": 1.0, "verdict": "clean", "first_seen": "2026-12-01T00:00:00",
                "notify": [], "evidence": []}]
    out = io.StringIO()
    print_records(records, fmt=fmt, show="all", out=out)
    text = out.getvalue()
    assert_shown_not_obeyed(text)
    assert "[/]" in text and "\\u202e" in text
    if fmt == "lines":
        assert len(text.splitlines()) == 2  # a newline in a value adds no line
