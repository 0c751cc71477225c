import json
import sys
import threading
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from kakuri.respond.incidents import (
    IncidentError, add_note, close_incident, contacts, get_incident, import_hunt, link, list_incidents, open_incident,
)
from kakuri.respond.isolation import IsolationAction, isolate_host
from kakuri.respond.report import build_report, render_report
from kakuri.respond.warnings import WarningConfig, compose_warning, render_text, send_warnings, warning_status

HUNT = [
    {"host": "10.20.1.5", "score": 9.5, "verdict": "infected", "evidence": ["feed: C2 192.0.2.10:8080"], "first_seen": "2020-02-03T01:00:00Z",
     "notify": ["Kondo@Partner.example", "sato@other.example"]},
    {"account": "taro@tokai-keiki.example", "score": 7.0, "verdict": "infected", "evidence": ["burst"], "first_seen": "2020-02-03T02:00:00Z",
     "notify": ["sato@other.example"]},
    {"host": "10.20.1.6", "score": 0.1, "verdict": "clean", "evidence": [], "first_seen": "2020-02-03T01:00:00Z", "notify": ["x@y.example"]},
]


def test_incident_lifecycle_and_timeline(session):
    incident = open_incident(session, title="Emotet in sales", actor="alice")
    add_note(session, incident.id, actor="bob", text="PC unplugged")
    assert link(session, incident.id, kind="host", value="10.20.1.5", actor="alice") is not None
    assert link(session, incident.id, kind="host", value="10.20.1.5", actor="alice") is None  # no duplicate
    with pytest.raises(IncidentError):
        link(session, incident.id, kind="printer", value="x", actor="alice")
    close_incident(session, incident.id, actor="alice", summary="contained")
    kinds = [e.kind for e in get_incident(session, incident.id).events]
    assert kinds == ["opened", "note", "linked", "closed"]
    assert list_incidents(session, status="closed")[0].id == incident.id
    with pytest.raises(IncidentError):
        get_incident(session, 999)


def test_import_hunt_links_only_infected_and_their_contacts(session):
    incident = open_incident(session, title="x", actor="a")
    counts = import_hunt(session, incident.id, HUNT, actor="a")
    assert counts == {"host": 1, "account": 1, "contact": 2}
    assert contacts(get_incident(session, incident.id)) == ["kondo@partner.example", "sato@other.example"]


class _Sender:
    def __init__(self, fail=()):
        self.sent, self.fail = [], set(fail)

    def send(self, raw, mail_from, rcpt):
        if rcpt in self.fail:
            return False, "550 5.1.1 no such user", None
        self.sent.append((raw, mail_from, rcpt))
        return True, "250 queued", f"Q{len(self.sent)}"


CONFIG = WarningConfig(from_address="security@tokai-keiki.example", organisation_ja="東海計器株式会社",
                       organisation_en="Tokai Keiki Co., Ltd.", contact_point="03-0000-0000", rate_per_minute=60)


def test_warnings_are_sent_once_per_contact_with_status(session):
    incident = open_incident(session, title="x", actor="a")
    import_hunt(session, incident.id, HUNT, actor="a")
    session.commit()
    sender = _Sender(fail={"sato@other.example"})
    pauses = []
    counts = send_warnings(session, incident.id, config=CONFIG, sender=sender, our_domains=["tokai-keiki.example"], actor="a", sleep=pauses.append)
    assert counts == {"sent": 1, "failed": 1, "skipped": 0}
    assert pauses == [1.0]  # 60 per minute
    again = send_warnings(session, incident.id, config=CONFIG, sender=_Sender(), our_domains=["tokai-keiki.example"], actor="a", sleep=pauses.append)
    assert again == {"sent": 1, "failed": 0, "skipped": 1}  # the failed one is retried, the sent one is not
    assert {w.recipient: w.status for w in warning_status(session, incident.id)} == {"kondo@partner.example": "sent", "sato@other.example": "sent"}


def test_warning_mail_is_iso2022jp_and_bilingual():
    text = render_text(CONFIG, our_domains=["tokai-keiki.example"], incident_ref="INC-1", home=None)
    raw = compose_warning(CONFIG, "kondo@partner.example", text)
    msg = message_from_bytes(raw)
    assert msg.get_content_charset() == "iso-2022-jp"
    assert b"\x1b$B" in raw  # JIS escape sequences, 7-bit clean
    assert all(b < 128 for b in raw)
    body = msg.get_payload(decode=True).decode("iso2022_jp")
    assert "Emotet" in body and "tokai-keiki.example" in body and "東海計器株式会社" in body and "Dear" in body
    assert "【重要】" in str(make_header(decode_header(msg["Subject"])))


def test_operator_template_replaces_stock(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "warning_en.txt.j2").write_text("Custom {{ organisation_en }}")
    config = CONFIG.model_copy(update={"language": "en", "charset": "utf-8"})
    assert render_text(config, our_domains=[], incident_ref="", home=tmp_path).strip() == "Custom Tokai Keiki Co., Ltd."


def test_isolation_webhook_command_and_dry_run(session, tmp_path):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"isolated")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    marker = tmp_path / "blocked.txt"
    actions = [
        IsolationAction(name="nac", kind="webhook", url=f"http://127.0.0.1:{server.server_port}/isolate"),
        IsolationAction(name="fw", kind="command", argv=[sys.executable, "-c", f"open({str(marker)!r},'w').write('{{host}}')"]),
    ]
    incident = open_incident(session, title="x", actor="a")
    dry = isolate_host(session, incident.id, "10.20.1.5", actions, actor="a", dry_run=True)
    assert all(r.dry_run for r in dry) and not received and not marker.exists()
    results = isolate_host(session, incident.id, "10.20.1.5", actions, actor="a", reason="C2 beacon")
    server.shutdown()
    assert all(r.ok for r in results)
    assert received == [{"action": "isolate", "host": "10.20.1.5", "incident": incident.id, "reason": "C2 beacon"}]
    assert marker.read_text() == "10.20.1.5"
    assert sum(e.kind == "isolation" for e in get_incident(session, incident.id).events) == 4


def test_isolation_failure_is_recorded_not_raised(session):
    incident = open_incident(session, title="x", actor="a")
    action = IsolationAction(name="down", kind="webhook", url="http://127.0.0.1:9/none", timeout_seconds=2)
    [result] = isolate_host(session, incident.id, "10.0.0.1", [action], actor="a")
    assert not result.ok
    assert "FAILED" in get_incident(session, incident.id).events[-1].text


def test_report_renders_markdown_and_html(session):
    incident = open_incident(session, title="Emotet <script>", actor="alice")
    import_hunt(session, incident.id, HUNT, actor="alice")
    link(session, incident.id, kind="indicator", value="sha256:" + "a" * 64, actor="alice")
    report = build_report(session, incident.id)
    md = render_report(report, "md")
    assert "10.20.1.5" in md and "taro@tokai-keiki.example" in md and "2 contacts" in md
    html = render_report(report, "html")
    assert "<script>" not in html and "&lt;script&gt;" in html
