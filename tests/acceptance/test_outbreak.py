"""An outbreak replayed end to end: the real gateway on loopback, a real next hop, the real CLI commands.

An infected account sends a hijacked reply with a macro document -> quarantined; an incident is opened
and linked (hunt results imported); archive lockdown; outbound hold; warnings to the notify list go out
through the gateway to the next hop despite the hold; the switches go off; held mail is released in
bulk; the report counts it all. Every message sent is found exactly once: at the next hop, in
quarantine, or held.
"""

from __future__ import annotations

import csv
import json
import smtplib
import time
from email.header import decode_header, make_header

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from kakuri.cli.main import app as cli
from kakuri.hunt.verdicts import HuntRecord
from kakuri.model import Finding
from kakuri.settings import load_settings
from kakuri.store.messages import Message
from tests.builders import make_message
from tests.builders_archive import zip_of
from tests.builders_office import doc_with_vba
from tests.receive.conftest import RecordingSink, sink  # noqa: F401 (the recording next hop fixture)
from tests.web.live import LiveConsole

pytestmark = pytest.mark.slow

OURS = "tokai-keiki.example"
TARO = f"taro@{OURS}"  # the infected account
JIRO = f"jiro@{OURS}"
HANAKO = f"hanako@{OURS}"
PARTNER = "kondo@partner.example"
SWITCH_SECONDS = 2.3  # EmergencySwitch re-reads the modes every 2 s
DROPPER = 'Sub AutoOpen()\n  Shell "powershell -w hidden -enc SQBFAFgA", 0\nEnd Sub\n'
HUNT = [
    {"account": TARO, "verdict": "infected", "score": 8.5, "evidence": ["burst of replies to old threads"],
     "first_seen": "2026-11-25T08:00:00Z", "notify": [PARTNER, "sato@other.example"]},
    HuntRecord(kind="host", key="10.20.1.5", score=9.0, verdict="infected", first_seen=1_764_057_300.0,  # as hunt writes it
               findings=[Finding("HUNT_FEED_C2", "hunt", evidence={"dst": "192.0.2.10:8080"})],
               notify=["Suzuki@Third.example", PARTNER], linked=[TARO]).as_json(),
    {"host": "10.20.1.9", "verdict": "clean", "score": 0.2, "evidence": [], "notify": ["nobody@else.example"]},
]
CONTACTS = {PARTNER, "sato@other.example", "suzuki@third.example"}

TOML = """
[org]
our_domains = ["{ours}"]
internal_networks = ["127.0.0.0/8"]
[smtp]
listen = "127.0.0.1:0"
hostname = "gw.{ours}"
scan_pool = "thread"
scan_workers = 2
[delivery]
next_hop = "127.0.0.1:{port}"
retry_schedule_seconds = [0.2]
[spool]
poll_seconds = 0.2
[respond.warning]
from_address = "security@{ours}"
organisation_ja = "東海計器株式会社"
organisation_en = "Tokai Keiki Co., Ltd."
contact_point = "03-0000-0000"
charset = "iso-2022-jp"
rate_per_minute = 600
"""


@pytest.fixture
def live(tmp_path, sink):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    (home / "kakuri.toml").write_text(TOML.format(ours=OURS, port=sink.port), encoding="utf-8")
    console = LiveConsole(load_settings(home)).start()
    yield console
    console.stop()


class Outbreak:
    """The test's view: what was sent, and the commands an operator types."""

    def __init__(self, live: LiveConsole, sink: RecordingSink) -> None:
        self.live, self.sink, self.sent = live, sink, {}
        self.runner = CliRunner()

    def send(self, name: str, mail_from: str, rcpt: str, **kwargs) -> str:
        message_id = f"<{name}.{time.time_ns()}@{mail_from.split('@')[1]}>"
        raw = make_message(from_=mail_from, to=rcpt, message_id=message_id, **kwargs)
        with smtplib.SMTP(*self.live.smtp_address, timeout=30) as smtp:
            smtp.sendmail(mail_from, [rcpt], raw)
        self.sent[name] = message_id.strip("<>")
        return self.sent[name]

    def kakuri(self, *args: str) -> str:
        result = self.runner.invoke(cli, ["--home", str(self.live.settings.home), *args])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.stdout

    def state(self, name: str, want: str, timeout: float = 20.0) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.live.gateway.stores.sessions() as db:
                row = db.scalars(select(Message).where(Message.message_id == self.sent[name])).first()
            if row is not None and row.state == want:
                return row
            time.sleep(0.1)
        raise AssertionError(f"{name} never became {want} (last: {row.state if row else None})")

    def at_next_hop(self) -> list[str]:
        return [m.strip("<>") for m in self.sink.message_ids()]

    def kept(self, state: str) -> list[str]:
        with self.live.gateway.stores.sessions() as db:
            return list(db.scalars(select(Message.message_id).where(Message.state == state, Message.origin == "smtp")))

    def warnings_received(self) -> list:
        return [d for d in self.sink.received if d.message.get("Auto-Submitted") == "auto-generated"]

    def assert_each_message_once(self) -> None:
        hop = [m for m in self.at_next_hop() if m in self.sent.values()]
        places = hop + self.kept("quarantined") + self.kept("held") + self.kept("bounced")
        assert sorted(places) == sorted(self.sent.values()), "a message was lost or counted twice"


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_outbreak_from_detection_to_report(live, sink, tmp_path):
    o = Outbreak(live, sink)

    # 1. The infected account replies into an old thread with a macro document: caught on the way out.
    o.send("hijacked", TARO, PARTNER, subject="RE: 見積の件", body="ご確認ください。\n",
           headers={"In-Reply-To": "<old-thread@partner.example>"},
           attachments=[("見積書.doc", doc_with_vba({"NewMacros": DROPPER}), "application/msword")])
    o.send("normal_out", JIRO, "client@customer.example", subject="打合せの件")
    hijacked = o.state("hijacked", "quarantined")
    assert hijacked.direction == "outbound" and any(s.startswith("MACRO_") for s in hijacked.symbols)
    o.state("normal_out", "delivered")

    # 2. Incident opened, the message and the hunt's findings linked.
    assert "opened incident 1" in o.kakuri("incident", "open", "Emotet: hijacked replies from taro")
    o.kakuri("incident", "link", "1", "message", hijacked.queue_id)
    hunt = tmp_path / "hunt.json"
    hunt.write_text(json.dumps(HUNT), encoding="utf-8")
    assert "1 host(s), 1 account(s), 3 contact(s)" in o.kakuri("incident", "import-hunt", "1", str(hunt))

    # 3. Archive lockdown: a harmless zip is quarantined, mail without archives still flows.
    o.kakuri("emergency", "on", "archives", "--reason", "Emotet outbreak", "--incident", "1")
    time.sleep(SWITCH_SECONDS)
    pdf_zip = zip_of({"catalogue.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"})
    o.send("archive_in", PARTNER, HANAKO, subject="カタログ送付", attachments=[("catalogue.zip", pdf_zip, "application/zip")])
    o.send("plain_in", PARTNER, HANAKO, subject="お打合せ日程")
    o.send("malware_zip_in", "billing@invoices.example", HANAKO, subject="請求書",
           attachments=[("請求書.zip", zip_of({"請求書.doc": doc_with_vba({"NewMacros": DROPPER})}), "application/zip")])
    assert "emergency.archives" in " ".join(o.state("archive_in", "quarantined").reasons)
    o.state("plain_in", "delivered")
    o.state("malware_zip_in", "quarantined")

    # 4. Hold every outbound message (the infected PCs may not be the only ones).
    o.kakuri("emergency", "on", "hold_outbound", "--reason", "stop further spread", "--incident", "1")
    time.sleep(SWITCH_SECONDS)
    o.send("taro_out", TARO, PARTNER, subject="RE: ご請求書")
    o.send("jiro_out", JIRO, "client@customer.example", subject="議事録")
    o.send("spam_out", TARO, "buyer@spam-target.example", subject="Invoice overdue")  # the malware's own run
    o.send("in_during_hold", PARTNER, HANAKO, subject="ご連絡")
    o.state("taro_out", "held")
    o.state("jiro_out", "held")
    o.state("spam_out", "held")
    o.state("in_during_hold", "delivered")
    o.assert_each_message_once()

    # 5. Warnings: previewed, then sent through the gateway to the real next hop, despite the hold.
    preview = o.kakuri("incident", "warn", "1", "--preview")
    assert "3 recipient(s)" in preview and "Emotet" in preview
    assert o.warnings_received() == []
    assert "3 handed to the gateway" in o.kakuri("incident", "warn", "1", "--rate", "600")
    wait_for(lambda: len(o.warnings_received()) == 3)
    warnings = o.warnings_received()
    assert {r for w in warnings for r in w.rcpt_tos} == CONTACTS
    for w in warnings:
        assert w.message.get_content_charset() == "iso-2022-jp" and all(b < 128 for b in w.data)
        body = w.message.get_payload(decode=True).decode("iso2022_jp")
        assert "東海計器株式会社" in body and "INC-1" in body
        assert "【重要】" in str(make_header(decode_header(w.message["Subject"])))
    with live.gateway.stores.sessions() as db:  # in the gateway's trace, as mail it made itself
        traced = db.scalars(select(Message).where(Message.origin == "warning")).all()
        assert sorted(m.state for m in traced) == ["delivered"] * 3
    traced = [json.loads(line) for line in o.kakuri("trace", "--from", "security@", "--jsonl").splitlines()]
    assert sorted((t["rcpt_to"], t["origin"], t["recipient_status"]) for t in traced) == [
        (c, "warning", "delivered") for c in sorted(CONTACTS)]
    assert "0 handed to the gateway" in o.kakuri("incident", "warn", "1")  # each contact is warned once
    notify = tmp_path / "notify.csv"
    o.kakuri("incident", "notify-list", "1", "--csv", str(notify))
    rows = list(csv.DictReader(notify.open(encoding="utf-8-sig")))
    assert {r["address"]: r["warning"] for r in rows} == {c: "delivered" for c in CONTACTS}

    # 6. All clear: switches off, the malware's held mail bounced, the rest released in bulk (dry run first).
    o.kakuri("emergency", "off", "archives", "--reason", "cleaned")
    o.kakuri("emergency", "off", "hold_outbound", "--reason", "cleaned")
    bounced = o.kakuri("release", "--recipient", "@spam-target.example", "--bounce", "--reason", "sent by the malware")
    assert "1 message(s) bounced" in bounced  # returned to the sender, never delivered
    dsn = wait_for(lambda: [d for d in sink.received if d.mail_from in ("", "<>") and d.rcpt_tos == [TARO]])
    assert o.sent["spam_out"] in dsn[0].data.decode("latin-1") and b"buyer@spam-target.example" in dsn[0].data
    dry = o.kakuri("release", "--state", "held", "--all", "--reason", "all clear", "--dry-run")
    assert "would release 2 message(s)" in dry
    assert len(o.at_next_hop()) == 7  # 3 delivered, 3 warnings, 1 bounce: the dry run released nothing
    out = o.kakuri("release", "--state", "held", "--all", "--incident", "1", "--reason", "all clear")
    assert "1 message(s) released" in out  # only the infected account's: the incident filter
    o.state("taro_out", "released")
    assert "1 message(s) released" in o.kakuri("release", "--state", "held", "--all", "--reason", "all clear")
    # Lockdown over: what only the switch kept goes out; the macro document stays in quarantine.
    out = o.kakuri("release", "--state", "quarantined", "--emergency-only", "--reason", "archive lockdown over")
    assert "1 message(s) released" in out
    wait_for(lambda: {o.sent["taro_out"], o.sent["jiro_out"], o.sent["archive_in"]} <= set(o.at_next_hop()))
    o.assert_each_message_once()
    assert o.kept("held") == [] and sorted(o.kept("quarantined")) == sorted([o.sent["hijacked"], o.sent["malware_zip_in"]])
    assert len(o.at_next_hop()) == len(set(o.at_next_hop()))  # nothing delivered twice

    # 7. The report counts what happened.
    report = tmp_path / "report.md"
    o.kakuri("incident", "report", "1", "--format", "md", "--out", str(report))
    text = report.read_text(encoding="utf-8")
    assert "| held by emergency policy | 3 |" in text
    assert "| quarantined or rejected | 3 |" in text
    assert "| released afterwards | 3 |" in text
    assert "| now bounced | 1 |" in text
    assert "3 contacts on the notify list; 3 warnings sent, 0 failed; 3 accepted by the next hop." in text
    assert "10.20.1.5" in text and TARO in text and "10.20.1.9" not in text
    assert "archives ON: Emotet outbreak" in text and r"hold\_outbound OFF: cleaned" in text  # Markdown-escaped
