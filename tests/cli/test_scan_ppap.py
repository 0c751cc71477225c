"""`kakuri scan` / `kakuri eval` over a mailbox export judge PPAP pairs as the gateway does (mailbox_scan.py)."""

from __future__ import annotations

import json
import mailbox
from email.utils import formatdate

from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.store.config import open_stores
from tests.builders import make_message
from tests.builders_archive import encrypted_zip, seven_zip
from tests.builders_office import doc_with_vba
from tests.receive.test_ppap import DROPPER, archive_mail, password_mail

runner = CliRunner()
T0 = 1598918400  # the builders' Date


def dated(raw: bytes, seconds_later: float) -> bytes:
    return raw.replace(formatdate(T0).encode(), formatdate(T0 + seconds_later).encode(), 1)


def scan_jsonl(settings, *paths) -> dict[str, dict]:
    open_stores(settings).close()
    out = settings.home / "verdicts.jsonl"
    result = runner.invoke(app, ["--home", str(settings.home), "scan", *map(str, paths), "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    return {r["file"]: r for r in map(json.loads, out.read_text().splitlines())}


def test_folder_scan_quarantines_both_halves_of_a_malicious_pair_and_delivers_a_clean_pair(settings, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    macro_zip = {"見積書.doc": doc_with_vba({"NewMacros": DROPPER})}
    (folder / "1-archive.eml").write_bytes(archive_mail(macro_zip, "Kx82Lq", message_id="<q-1@partner.example>"))
    (folder / "2-password.eml").write_bytes(dated(password_mail("Kx82Lq", replying_to="<q-1@partner.example>"), 120))
    clean = archive_mail({"見積書.txt": "御見積金額 120,000円".encode()}, "Ab12cd", message_id="<q-2@partner.example>")
    (folder / "3-archive.eml").write_bytes(clean.replace(b"taro@partner.example", b"jiro@other.example"))
    clean_pw = password_mail("Ab12cd", replying_to="<q-2@partner.example>")
    (folder / "4-password.eml").write_bytes(dated(clean_pw.replace(b"taro@partner.example", b"jiro@other.example"), 60))

    verdicts = scan_jsonl(settings, folder)
    assert verdicts["1-archive.eml"]["action"] == "quarantine"
    assert "MACRO_AUTOEXEC" in verdicts["1-archive.eml"]["symbols"]
    assert verdicts["2-password.eml"]["action"] == "quarantine"
    assert verdicts["2-password.eml"]["reasons"][-1] == (
        "ppap: states the password of 1-archive.eml, which opened with it and is quarantined")
    assert verdicts["3-archive.eml"]["action"] == "deliver"
    assert "ARCHIVE_ENCRYPTED" in verdicts["3-archive.eml"]["symbols"]  # opened with the other mail's password
    assert "ARCHIVE_ENCRYPTED_UNOPENED" not in verdicts["3-archive.eml"]["symbols"]
    assert verdicts["4-password.eml"]["action"] == "deliver"


def test_mbox_pairs_by_sender_and_audience_within_the_hold_window_only(settings, tmp_path):
    def pair(password: str, tag: str, later: float) -> tuple[bytes, bytes]:
        archive = archive_mail({"a.doc": doc_with_vba({"NewMacros": DROPPER})}, password, message_id=f"<{tag}@p.example>")
        separate = make_message(from_="Taro Yamada <taro@partner.example>", subject="パスワード",
                                body=f"パスワード：{password}\n", message_id=f"<pw-{tag}@p.example>")  # no reference
        return archive, dated(separate, later)

    box = mailbox.mbox(tmp_path / "export.mbox")
    for raw in (*pair("Kx82Lq", "near", 600), *pair("Zq71Pw", "late", 7200)):
        box.add(raw)
    box.flush()
    verdicts = scan_jsonl(settings, tmp_path / "export.mbox")
    name = str(tmp_path / "export.mbox")
    assert [verdicts[f"{name}#{i}"]["action"] for i in (1, 2)] == ["quarantine", "quarantine"]
    late_archive, late_password = verdicts[f"{name}#3"], verdicts[f"{name}#4"]
    assert "ARCHIVE_ENCRYPTED_UNOPENED" in late_archive["symbols"]  # two hours later: the hold was over
    assert late_password["action"] == "deliver"


def test_a_password_mail_that_opens_nothing_keeps_its_own_verdict(settings, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    macro_zip = {"a.doc": doc_with_vba({"NewMacros": DROPPER})}
    (folder / "a.eml").write_bytes(archive_mail(macro_zip, "Right-1", message_id="<q-3@partner.example>"))
    (folder / "b.eml").write_bytes(password_mail("Wrong-2", replying_to="<q-3@partner.example>"))
    verdicts = scan_jsonl(settings, folder)
    assert "ARCHIVE_ENCRYPTED_UNOPENED" in verdicts["a.eml"]["symbols"]
    assert verdicts["b.eml"]["action"] == "deliver"


def test_encrypted_7z_pair_in_a_maildir_is_judged_like_live_traffic(settings, tmp_path):
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    script = b'CreateObject("WScript.Shell").Run "powershell -w hidden -enc SQBFAFgA"'
    archive = make_message(from_="Taro Yamada <taro@partner.example>", subject="請求書",
                           attachments=[("請求書.7z", seven_zip({"請求書.js": script}, password="Hm3-889"))],
                           message_id="<inv-7@partner.example>")
    password = make_message(from_="Taro Yamada <taro@partner.example>", subject="Re: 請求書",
                            body="パスワード：Hm3-889\n", headers={"In-Reply-To": "<inv-7@partner.example>"})
    keys = {maildir.add(archive): "archive", maildir.add(dated(password, 300)): "password"}
    verdicts = {keys[name.rsplit("/", 1)[-1].split(":")[0]]: v
                for name, v in scan_jsonl(settings, tmp_path / "Maildir").items()}
    assert verdicts["archive"]["action"] == "quarantine" and "ARCHIVE_ENCRYPTED" in verdicts["archive"]["symbols"]
    assert verdicts["password"]["action"] == "quarantine"


def test_eval_counts_both_halves_of_a_malicious_pair_as_stopped(settings, tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "messages").mkdir(parents=True)
    macro_zip = {"見積書.doc": doc_with_vba({"NewMacros": DROPPER})}
    (corpus / "messages/1.eml").write_bytes(archive_mail(macro_zip, "Kx82Lq", message_id="<q-9@partner.example>"))
    (corpus / "messages/2.eml").write_bytes(dated(password_mail("Kx82Lq", replying_to="<q-9@partner.example>"), 90))
    envelope = {"mail_from": "taro@partner.example", "rcpt_to": ["hanako@tokai-keiki.example"]}
    labels = [{"file": f"messages/{n}.eml", "label": "malicious", "family": "ppap_pair", "envelope": envelope}
              for n in (1, 2)]
    (corpus / "labels.jsonl").write_text("".join(json.dumps(label) + "\n" for label in labels))
    open_stores(settings).close()
    out = tmp_path / "eval.jsonl"
    result = runner.invoke(app, ["--home", str(settings.home), "eval", str(corpus), "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    assert [r["action"] for r in map(json.loads, out.read_text().splitlines())] == ["quarantine", "quarantine"]
    assert "detection rate 100.0%" in result.output
