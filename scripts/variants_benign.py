"""Benign look-alikes for scripts/variants.py: the normal business mail most likely to be quarantined."""

from __future__ import annotations

import random

from kakuri.model import Direction, Envelope
from tests.builders_archive import encrypted_zip, zip_of
from tests.builders_office import docx, plain_doc, plain_xls, xlsx

from variants import OURS, WORDS, Org, _in, mail, quote, rnd_host, rnd_token

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000a49444154789c6300010000050001 0d0a2db40000000049454e44ae426082".replace(" ", ""))


def _partner(r, org):
    p = r.choice(org.partners)
    return p, r.choice(org.staff)


def ben_partner_second_address(r: random.Random, org: Org):
    p, s = _partner(r, org)
    local, dom = p["email"].split("@")
    addr = r.choice((f"{local}.{r.choice(('mobile', 'sub', 'jp'))}@{dom}", f"{local}@mail.{dom}", f"{local}2@{dom}"))
    name = r.choice((p["name_ja"], p["name_romaji"], p["name_ja"].replace(" ", "")))
    att = r.choice(([], [("見積書.pdf", PDF)], [("注文書.xlsx", xlsx())]))
    raw = mail(from_=(name, addr), to=[(s["name_ja"], s["email"])], subject="見積書送付の件", body="お世話になっております。\n見積書を送付いたします。",
               attachments=att, charset=r.choice(("iso-2022-jp", "utf-8")))
    return raw, _in(addr, s["email"]), "second-address"


def ben_newsletter(r: random.Random, org: Org):
    s = r.choice(org.staff)
    host = rnd_host(r)
    links = []
    for i in range(r.randint(10, 40)):
        kind = r.choice(("track", "pdf", "plain", "img", "ip"))
        if kind == "track":
            links.append(f"https://click.{host}/ls/click?upn={rnd_token(r, 40)}")
        elif kind == "pdf":
            links.append(f"https://www.{host}/wp-content/uploads/2020/09/catalog_{i}.pdf")
        elif kind == "plain":
            links.append(f"https://www.{host}/news/{i}")
        elif kind == "img":
            links.append(f"https://cdn.{host}/img/{i}.png")
        else:
            links.append(f"https://www.{host}/seminar/2020/{i}/")
    html = "<html><body>" + "".join(f'<p><a href="{u}">記事{i}を読む</a></p>' for i, u in enumerate(links)) + \
        f'<a href="https://click.{host}/unsub?u={rnd_token(r, 20)}">配信停止</a></body></html>'
    raw = mail(from_=(f"{r.choice(WORDS).title()}通信", f"news@{host}"), to=[("", s["email"])], subject="【メールマガジン】9月号",
               body=None if r.random() < 0.5 else "HTMLメールです。", html=html,
               headers={"List-Unsubscribe": f"<https://{host}/unsub>", "Precedence": "bulk"})
    return raw, _in(f"bounce-{rnd_token(r, 6)}@{host}", s["email"]), "newsletter"


def ben_invite(r: random.Random, org: Org):
    p, s = _partner(r, org)
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:" + rnd_token(r, 16) +
           "\r\nSUMMARY:定例会議\r\nDTSTART:20200925T010000Z\r\nDTEND:20200925T020000Z\r\nLOCATION:https://teams.microsoft.com/l/meetup-join/19%3ameeting_"
           + rnd_token(r, 30) + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()
    link = r.choice((f"https://us02web.zoom.us/j/{r.randint(10**9, 10**10)}?pwd={rnd_token(r, 32)}",
                     f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{rnd_token(r, 30)}%40thread.v2/0"))
    body = f"定例会議のご案内です。\n\nZoomミーティングに参加する\n{link}\n\nミーティングID: 123 456 7890\nパスコード: {rnd_token(r, 6)}\n"
    raw = mail(from_=(p["name_ja"], p["email"]), to=[(s["name_ja"], s["email"])], subject="招待: 定例会議 2020/09/25",
               body=body, attachments=[("invite.ics", ics, "text/calendar")])
    return raw, _in(p["email"], s["email"]), "invite"


def ben_dsn(r: random.Random, org: Org):
    s = r.choice(org.staff)
    original = mail(from_=(s["name_ja"], s["email"]), to=[("", f"nobody@{rnd_host(r)}")], subject="見積書", body="見積書を送付します。",
                    attachments=[("見積書.xlsx", xlsx())])
    text = "This is the mail system at host mx1.\n\nI'm sorry to have to inform you that your message could not be delivered."
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    from email.mime.message import MIMEMessage
    import email as em
    msg = MIMEMultipart("report", report_type="delivery-status")
    msg.attach(MIMEText(text))
    status = MIMEText("Reporting-MTA: dns; mx1\n\nFinal-Recipient: rfc822; nobody@x\nAction: failed\nStatus: 5.1.1\n", "delivery-status")
    msg.attach(status)
    msg.attach(MIMEMessage(em.message_from_bytes(original)))
    msg["From"] = "Mail Delivery System <MAILER-DAEMON@mx1.tokai-keiki.example>"
    msg["To"] = s["email"]
    msg["Subject"] = "Undelivered Mail Returned to Sender"
    raw = msg.as_bytes().replace(b"\n", b"\r\n")
    return raw, Envelope(mail_from="", rcpt_tos=(s["email"],), client_ip="198.51.100.1", direction=Direction.INBOUND), "dsn"


def ben_dsn_thread_provider(r: random.Random, org: Org):
    """An Exchange-style bounce of our reply in a known thread, from the recipient's mail provider."""
    from email.mime.message import MIMEMessage
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    import email as em
    thread = r.choice(org.partner_threads)
    ours = next((m for m in thread if m["from"].addr_spec.endswith(OURS)), None) or thread[-1]
    original = mail(from_=(ours["from"].display_name, ours["from"].addr_spec), to=[("", "x@partner.test")],
                    subject=ours["subject"], body=ours["body"][:800], attachments=[("見積書.pdf", PDF)])
    msg = MIMEMultipart("report", report_type="delivery-status")
    msg.attach(MIMEText("Delivery has failed to these recipients or groups."))
    msg.attach(MIMEText("Reporting-MTA: dns; mx.hosted.test\n\nFinal-Recipient: rfc822; a@b\nAction: failed\nStatus: 5.1.1\n", "delivery-status"))
    msg.attach(MIMEMessage(em.message_from_bytes(original)))
    host = rnd_host(r)
    msg["From"] = f"Microsoft Outlook <postmaster@{host}>"
    msg["To"] = ours["from"].addr_spec
    msg["Subject"] = "Undeliverable: " + ours["subject"]
    msg["In-Reply-To"] = ours["id"]
    msg["References"] = ours["id"]
    return msg.as_bytes().replace(b"\n", b"\r\n"), Envelope(mail_from="", rcpt_tos=(ours["from"].addr_spec,), direction=Direction.INBOUND), "ndr"


def ben_auto_reply(r: random.Random, org: Org):
    p, s = _partner(r, org)
    raw = mail(from_=(p["name_ja"], p["email"]), to=[(s["name_ja"], s["email"])], subject="自動応答: RE: 見積書の件",
               body="誠に勝手ながら、9月23日まで不在にしております。\n急ぎの場合は https://www." + p["domain"] + "/contact/ までご連絡ください。",
               headers={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}, charset="iso-2022-jp")
    return raw, _in(p["email"], s["email"]), "auto-reply"


def ben_forward_with_attachment(r: random.Random, org: Org):
    s1, s2 = r.sample(org.staff, 2)
    att = r.choice(([("見積書.pdf", PDF)], [("data.xlsx", xlsx())], [("議事録.docx", docx())], [("old.doc", plain_doc())], [("old.xls", plain_xls())]))
    raw = mail(from_=(s1["name_ja"], s1["email"]), to=[(s2["name_ja"], s2["email"])], subject="FW: RE: 見積書の件",
               body="転送します。\n\n---------- Forwarded message ---------\nFrom: 取引先 <someone@" + rnd_host(r) + ">\n> 見積書を添付します。",
               attachments=att)
    env = Envelope(mail_from=s1["email"], rcpt_tos=(s2["email"],), client_ip="10.10.1.25", direction=Direction.INTERNAL)
    return raw, env, "forward"


def ben_invoice(r: random.Random, org: Org):
    p, s = _partner(r, org)
    att = r.choice(([("請求書_2020_09.pdf", PDF)], [("Invoice_0921.xlsx", xlsx())], [("請求書.docx", docx())],
                    [("invoice.xml", b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>1</ID></Invoice>', "application/xml")],
                    [("請求書.zip", zip_of({"請求書.pdf": PDF, "明細.csv": b"a,b\n1,2\n"}))]))
    raw = mail(from_=(p["name_ja"], p["email"]), to=[(s["name_ja"], s["email"])], subject="9月分請求書送付のご案内",
               body="いつもお世話になっております。\n9月分の請求書を送付いたします。\nご確認のほどよろしくお願いいたします。",
               attachments=att, charset=r.choice(("iso-2022-jp", "shift_jis", "utf-8")))
    return raw, _in(p["email"], s["email"]), att[0][0]


def ben_ppap(r: random.Random, org: Org):
    p, s = _partner(r, org)
    pw = rnd_token(r, 8)
    inner = r.choice(({"図面.pdf": PDF}, {"見積.xlsx": xlsx()}, {"仕様書.docx": docx()}))
    note = r.choice(("パスワードは別メールにてお送りいたします。", "The password will follow in a separate email.", "解凍パスワードは後ほど送付します。",
                     "※パスワードは別途ご連絡いたします。", "密码将另行发送。"))
    raw = mail(from_=(p["name_ja"], p["email"]), to=[(s["name_ja"], s["email"])], subject="図面送付の件",
               body=f"お世話になっております。\n図面を送付いたします。\n{note}", attachments=[("図面.zip", encrypted_zip(inner, pw))],
               charset=r.choice(("iso-2022-jp", "utf-8")))
    return raw, _in(p["email"], s["email"]), "ppap"


def ben_ppap_password_mail(r: random.Random, org: Org):
    p, s = _partner(r, org)
    pw = rnd_token(r, 8)
    raw = mail(from_=(p["name_ja"], p["email"]), to=[(s["name_ja"], s["email"])], subject="【パスワード通知】図面送付の件",
               body=f"先ほどお送りしたファイルのパスワードをお知らせします。\n\nパスワード：{pw}\n", charset="iso-2022-jp")
    return raw, _in(p["email"], s["email"]), "pw-mail"


def ben_saas_notification(r: random.Random, org: Org):
    s = r.choice(org.staff)
    host = r.choice(("box.example.com", "salesforce.example.com", "github.example.com", "backlog.example.jp", rnd_host(r)))
    links = [f"https://{host}/s/{rnd_token(r, 20)}", f"https://{host}/notifications/settings",
             f"https://app.{host}/files/{r.randint(10**6, 10**7)}/download"]
    body = f"{s['name_ja']}様\n\n新しいファイルが共有されました: 見積書.pdf\n\n{links[0]}\n\nファイルを表示: {links[2]}\n\n通知設定: {links[1]}\n"
    raw = mail(from_=("Notification", f"no-reply@{host}"), to=[("", s["email"])], subject="ファイルが共有されました",
               body=body, html="<html><body>" + "".join(f'<a href="{u}">開く</a><br>' for u in links) + "</body></html>")
    return raw, _in(f"bounces@{host}", s["email"]), host


def ben_long_thread(r: random.Random, org: Org):
    thread = r.choice(org.partner_threads)
    partner = next(m["from"] for m in thread if not m["from"].addr_spec.endswith(OURS))
    last = thread[-1]
    ours = next((m["from"] for m in thread if m["from"].addr_spec.endswith(OURS)), None)
    subject = "Re: " * r.randint(1, 6) + thread[0]["subject"]
    att = r.choice(([], [("修正版.pdf", PDF)], [("修正版.xlsx", xlsx())], [("ファイル.zip", zip_of({"a.pdf": PDF}))]))
    text = "ご確認ありがとうございます。修正版を送付します。\nhttps://www." + partner.addr_spec.split("@")[1] + "/products/"
    raw = mail(from_=(partner.display_name, partner.addr_spec), to=[(ours.display_name, ours.addr_spec)] if ours else [("", "x@" + OURS[0])],
               subject=subject, body=text + quote(last["body"], str(last["from"])), attachments=att,
               in_reply_to=last["id"], references=last["refs"] + [last["id"]], charset=r.choice(("iso-2022-jp", "utf-8")))
    return raw, _in(partner.addr_spec, ours.addr_spec if ours else "x@" + OURS[0]), "long-thread"


def ben_intranet(r: random.Random, org: Org):
    s1, s2 = r.sample(org.staff, 2)
    url = r.choice((f"http://10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}/share/{rnd_token(r, 5)}/report.xlsx",
                    f"\\\\fileserver01\\share\\営業部\\見積書.xlsx", f"http://192.168.{r.randint(0, 255)}.{r.randint(1, 254)}:8080/wiki/",
                    f"http://intranet.{s1['domain']}/docs/manual.docx"))
    raw = mail(from_=(s1["name_ja"], s1["email"]), to=[(s2["name_ja"], s2["email"])], subject="資料の保存場所",
               body=f"資料はこちらに置きました。\n{url}\n")
    env = Envelope(mail_from=s1["email"], rcpt_tos=(s2["email"],), client_ip="10.10.1.25", direction=Direction.INTERNAL)
    return raw, env, url.split("/")[2] if "//" in url else "unc"


def ben_vendor_download(r: random.Random, org: Org):
    s = r.choice(org.staff)
    host = r.choice(("download.example-soft.com", rnd_host(r)))
    url = r.choice((f"https://{host}/products/tool/setup_v{r.randint(1, 9)}.{r.randint(0, 9)}.exe",
                    f"https://{host}/download/update_2020-09.zip", f"https://{host}/support/manual.pdf"))
    raw = mail(from_=("Support", f"support@{host}"), to=[("", s["email"])], subject="新バージョンリリースのお知らせ",
               body=f"いつもご利用ありがとうございます。\n新バージョンを公開しました。\n{url}\n")
    return raw, _in(f"support@{host}", s["email"]), url.rsplit(".", 1)[-1]


def ben_html_only_inline(r: random.Random, org: Org):
    p, s = _partner(r, org)
    html = f'<html><body><p>{s["name_ja"]}様</p><p>お世話になっております。</p><img src="cid:logo@x"><p><a href="https://www.{p["domain"]}/">www.{p["domain"]}</a></p></body></html>'
    raw = mail(from_=(p["name_ja"], p["email"]), to=[(s["name_ja"], s["email"])], subject="ご挨拶", body=None, html=html,
               attachments=[("logo.png", PNG, "image/png")], charset=r.choice(("iso-2022-jp", "utf-8", "shift_jis")))
    return raw, _in(p["email"], s["email"]), "html-only"


def ben_mailing_list(r: random.Random, org: Org):
    s = r.choice(org.staff)
    namesake = r.choice(org.staff)
    host = rnd_host(r)
    raw = mail(from_=(namesake["name_romaji"], f"{namesake['name_romaji'].split()[0].lower()}@{rnd_host(r)}"), to=[("", f"users@{host}")],
               subject="[users:1234] Re: 設定方法について", body="こちらの手順で解決しました。\nhttps://www." + host + "/wiki/Setup\n",
               headers={"List-Id": f"<users.{host}>", "List-Post": f"<mailto:users@{host}>", "Sender": f"users-bounces@{host}"})
    return raw, _in(f"users-bounces@{host}", s["email"]), "ml-namesake"


def ben_signed(r: random.Random, org: Org):
    p, s = _partner(r, org)
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    from email.mime.application import MIMEApplication
    kind = r.choice(("smime", "pgp"))
    msg = MIMEMultipart("signed", protocol="application/pkcs7-signature" if kind == "smime" else "application/pgp-signature", micalg="sha-256")
    msg.attach(MIMEText("署名付きメールです。\n", "plain", "utf-8"))
    if kind == "smime":
        sig = MIMEApplication(bytes(r.getrandbits(8) for _ in range(600)), "pkcs7-signature", name="smime.p7s")
        sig.add_header("Content-Disposition", "attachment", filename="smime.p7s")
    else:
        sig = MIMEApplication(b"-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n", "pgp-signature", name="signature.asc")
    msg.attach(sig)
    msg["From"] = f"{p['name_romaji']} <{p['email']}>"
    msg["To"] = s["email"]
    msg["Subject"] = "Signed"
    return msg.as_bytes().replace(b"\n", b"\r\n"), _in(p["email"], s["email"]), kind


def ben_excel_external_links(r: random.Random, org: Org):
    p, s = _partner(r, org)
    from tests.builders_office import xlsx as _x
    data = _x(extra={"xl/externalLinks/externalLink1.xml": '<?xml version="1.0"?><externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
                     "xl/externalLinks/_rels/externalLink1.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLinkPath" Target="file:///\\\\fileserver\\share\\budget.xlsx" TargetMode="External"/></Relationships>'})
    raw = mail(from_=(p["name_ja"], p["email"]), to=[(s["name_ja"], s["email"])], subject="予算表", body="予算表です。",
               attachments=[("予算.xlsx", data)])
    return raw, _in(p["email"], s["email"]), "extlink"


def ben_vcard(r: random.Random, org: Org):
    p, s = _partner(r, org)
    vcf = f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{p['name_ja']}\r\nEMAIL:{p['email']}\r\nURL:https://www.{p['domain']}/\r\nEND:VCARD\r\n".encode()
    raw = mail(from_=(p["name_ja"], p["email"]), to=[(s["name_ja"], s["email"])], subject="連絡先", body="連絡先を送ります。",
               attachments=[("card.vcf", vcf, "text/vcard")])
    return raw, _in(p["email"], s["email"]), "vcard"


def ben_new_contact(r: random.Random, org: Org):
    """First contact from an unknown company, with a normal PDF or a link (sales inquiries)."""
    s = r.choice(org.staff)
    host = rnd_host(r)
    att = r.choice(([], [("会社案内.pdf", PDF)], [("見積依頼.xlsx", xlsx())], [("カタログ.zip", zip_of({"catalog.pdf": PDF}))]))
    body = f"突然のご連絡失礼いたします。\n弊社製品のご案内です。\n詳細: https://www.{host}/products/catalog.pdf\n"
    raw = mail(from_=("営業部 田中", f"tanaka@{host}"), to=[(s["name_ja"], s["email"])], subject=r.choice(("製品のご案内", "Re: 製品のご案内")),
               body=body, attachments=att, charset=r.choice(("iso-2022-jp", "utf-8")))
    return raw, _in(f"tanaka@{host}", s["email"]), "new-contact"


def ben_outbound_business(r: random.Random, org: Org):
    s = r.choice(org.staff)
    rcpts = r.sample(org.partners, k=r.randint(1, 6))
    att = r.choice(([("見積書.pdf", PDF)], [("見積書.xlsx", xlsx())], [("資料.zip", encrypted_zip({"a.pdf": PDF}, rnd_token(r, 8)))], []))
    body = "お世話になっております。\n資料を送付いたします。\n" + ("パスワードは別メールにてお送りします。\n" if att and att[0][0].endswith(".zip") else "")
    raw = mail(from_=(s["name_ja"], s["email"]), to=[(p["name_ja"], p["email"]) for p in rcpts], subject="資料送付", body=body, attachments=att)
    env = Envelope(mail_from=s["email"], rcpt_tos=tuple(p["email"] for p in rcpts), client_ip="10.10.1.25",
                   helo="exch01.corp.tokai-keiki.example", direction=Direction.OUTBOUND)
    return raw, env, f"{len(rcpts)} rcpts"


def ben_staff_from_personal(r: random.Random, org: Org):
    """A colleague writing from a personal address whose display name is their own name: still an impostor
    by the rules, left out of the counts on purpose? No: Japanese companies forbid it; include as a probe."""
    s = r.choice(org.staff)
    raw = mail(from_=("", f"{r.choice(WORDS)}{r.randint(1, 99)}@{rnd_host(r)}"), to=[(s["name_ja"], s["email"])],
               subject="お問い合わせ", body="御社製品について質問があります。\n型番 X-100 の納期を教えてください。")
    return raw, _in("x@" + rnd_host(r), s["email"]), "inquiry"


def ben_saas_on_behalf(r: random.Random, org: Org):
    """A colleague or partner shares a file through a SaaS: their name, the service's no-reply address."""
    person = r.choice(org.staff + org.partners)
    s = r.choice(org.staff)
    service, host, local = r.choice((("Google Drive", "google.example", "drive-shares-dm-noreply"), ("Box", "box.example", "noreply"),
                                     ("Dropbox", "dropbox.example", "no-reply"), ("DocuSign", "docusign.example", "dse-noreply")))
    name = r.choice((f"{person['name_romaji']} (via {service})", f"{person['name_ja']}（{service} 経由）", f"{person['name_romaji']} via {service}"))
    link = f"https://{host}/s/{rnd_token(r, 24)}"
    raw = mail(from_=(name, f"{local}@{host}"), to=[("", s["email"])], subject=f"{person['name_ja']}さんがファイルを共有しました",
               body=f"{person['name_ja']}さんが「見積書.pdf」を共有しました。\n{link}\n", headers={"Reply-To": person["email"]})
    return raw, _in(f"bounce@{host}", s["email"]), service


BENIGN = {
    "saas_on_behalf": ben_saas_on_behalf,
    "partner_second_address": ben_partner_second_address, "newsletter": ben_newsletter, "invite": ben_invite,
    "dsn": ben_dsn, "dsn_thread_provider": ben_dsn_thread_provider, "auto_reply": ben_auto_reply, "forward": ben_forward_with_attachment, "invoice": ben_invoice,
    "ppap": ben_ppap, "ppap_password_mail": ben_ppap_password_mail, "saas_notification": ben_saas_notification,
    "long_thread": ben_long_thread, "intranet": ben_intranet, "vendor_download": ben_vendor_download,
    "html_only_inline": ben_html_only_inline, "mailing_list": ben_mailing_list, "signed": ben_signed,
    "excel_external_links": ben_excel_external_links, "vcard": ben_vcard, "new_contact": ben_new_contact,
    "outbound_business": ben_outbound_business, "inquiry": ben_staff_from_personal,
}
