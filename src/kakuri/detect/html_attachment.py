"""HTML and SVG attachments that are phishing pages, redirectors or file smugglers.

Threat: a local web page opened from the mail, where neither link rewriting nor web filters look: a sign-in
form posting the victim's password to the attacker (often pre-filled with the recipient's address), a page
that only sends the browser on to a phishing site, an SVG "image" that runs script, and HTML smuggling: the
page assembles a zip, .js, .iso or macro document from data it carries (`atob`, `Blob`, `createObjectURL`,
`msSaveOrOpenBlob`, `download=`) so that the gateway never sees a file. Obfuscation wraps all of these
(`document.write(unescape(...))`, `eval(atob(...))`, `String.fromCharCode` lists, escape walls).
Technique: selectolax (Lexbor, a real HTML5 parser and among the fastest on PyPI) reads forms, inputs, meta
refresh, titles, images and scripts; `detect.script_literals` pulls the strings out of scripts; encoded layers
that decode to HTML are analysed again (up to MAX_LAYERS), and decoded blobs that are files are carved into
`Part.children` and expanded by the unpack walker, so every other detector (file types, Office, PDF, QR, IOCs)
scans the smuggled file like an attachment. The page's web links are published for the URL detectors
(source "html-attachment"), its title and the alt texts of logos it loads from the web for the brand
detectors (fact BRAND_TEXT_FACT).
Emits: HTML_SMUGGLING, HTML_SMUGGLED_FILE, HTML_CREDENTIAL_FORM, HTML_FORM_POSTS_AWAY, HTML_OBFUSCATED_SCRIPT,
HTML_REDIRECT_PAGE, HTML_RECIPIENT_EMBEDDED, HTML_REMOTE_SCRIPT, HTML_REMOTE_LOADER, SVG_ACTIVE_CONTENT.
Encrypted-mail services' own envelopes (a password form posting back to the service, data file
secure_message_services.txt) are recognised as such and not reported.
Blind spots: payloads decrypted with a key (XOR, AES via CryptoJS) or fetched at run time, pages assembled
by script from fragments we cannot decode, and HTML mail bodies (the URL and text detectors read those).
"""

from __future__ import annotations

import base64
import re
from importlib import resources
from pathlib import Path
from dataclasses import dataclass, field
from typing import ClassVar, Iterable

from selectolax.lexbor import LexborHTMLParser

from kakuri.detect.attachment_links import publish_urls
from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import child_part
from kakuri.detect.script_literals import char_code_arrays, data_uris, decode_blob, string_literals
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec
from kakuri.parse.domains import registrable_domain
from kakuri.parse.urls import Url, make_url
from kakuri.unpack.filetype import sniff
from kakuri.unpack.limits import UnpackLimits
from kakuri.unpack.passwords import harvest_passwords
from kakuri.unpack.walker import unpack_part

BRAND_TEXT_FACT = "html_attachment.brand_text"  # titles and alt texts of logos loaded from the web
SMUGGLED_CONTAINER = "html-smuggled"  # Part.container of a file carved out of a page
HTML_EXTENSIONS = frozenset({"htm", "html", "shtml", "xhtml", "xht", "svg", "svgz", "hta"})
MAX_PAGE_BYTES = 8 * 1024 * 1024
MAX_LAYERS = 3  # encoded pages inside pages, analysed again
MAX_CARVED = 5  # files carved per attachment
MIN_CARVED_BYTES = 64
MAX_NESTING = 3000  # open elements beyond which tree building turns quadratic (20,000 nested divs: seconds)
REDIRECT_MAX_TEXT = 600  # visible characters of a page that only forwards the browser
# (word that must occur, pattern): the pattern with a literal prefix runs only when its word is there.
_SMUGGLING = (("Blob", re.compile(r"\bnew\s+Blob\s*\(")), ("createObjectURL", re.compile(r"createObjectURL")),
              ("msSaveOrOpenBlob", re.compile(r"msSaveOrOpenBlob")), ("msSaveBlob", re.compile(r"msSaveBlob")),
              (".download", re.compile(r"\.download\s*=")), ("File", re.compile(r"\bnew\s+File\s*\(\s*\[")))
_DECODERS = (("atob", re.compile(r"\batob\s*\(")), ("unescape", re.compile(r"\bunescape\s*\(")),
             ("decodeURIComponent", re.compile(r"decodeURIComponent\s*\(")), ("fromCharCode", re.compile(r"fromCharCode")),
             ("eval", re.compile(r"\beval\s*\(")), ("document.write", re.compile(r"document\.write(?:ln)?\s*\(")),
             ("Function", re.compile(r"\bFunction\s*\(")), ("setTimeout", re.compile(r"\bsetTimeout\s*\(\s*['\"]")))
_ESCAPE_RUN = re.compile(r"(?:(?:\\x|%|\\u00)[0-9a-fA-F]{2})+")  # runs of 40+ escapes (120+ chars) are walls
_JS_REDIRECT = re.compile(r"(?:location(?:\.href)?\s*=(?!=)|location\.(?:replace|assign)\s*\(|window\.open\s*\(|"
                          r"\.click\s*\(\s*\))")
_PASSWORD_IN_SCRIPT = re.compile(r"""type\s*[=:]\s*\\?["']password|\.type\s*=\s*["']password""", re.IGNORECASE)
_SCRIPT_SENDS = re.compile(r"\$\.(?:ajax|post)\s*\(|\bfetch\s*\(|XMLHttpRequest|navigator\.sendBeacon", re.IGNORECASE)
_DOWNLOAD_NAME = re.compile(r"""(?:\.download\s*=\s*|msSaveOrOpenBlob\s*\([^,]+,\s*|msSaveBlob\s*\([^,]+,\s*|"""
                            r"""\bdownload\s*=\s*)["']([^"'<>\r\n]{1,120})["']""")
_OBFUSCATOR_NAMES = re.compile(r"\b_0x[0-9a-f]{4,6}\b")  # javascript-obfuscator's renamed identifiers
_ENCRYPTED_LAYER = re.compile(r"CryptoJS\.(?:AES|TripleDES|Rabbit|RC4)\.decrypt|crypto\.subtle\.decrypt")
_TAG_NAME = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]{0,15})(?:[^<>]*?(/)?>)?")  # group 3: self-closing (SVG)
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_SCRIPT_BLOCK = re.compile(r"<script\b[^>]*>(.*?)(?:</script\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_SVG_LINK = re.compile(r"""(?:xlink:)?href\s*=\s*["'](https?://[^"'<>\s]+)""", re.IGNORECASE)
_SVG_ACTIVE = re.compile(r"<script\b|<[^<>]*?\son(?:load|error|click|mouse\w+|focus\w*|begin|end|repeat|activate|"
                         r"animation\w+|pointer\w+|key\w+)\s*=|javascript:", re.IGNORECASE)
# Diagram tools put text in foreignObject; only forms, frames and embedded objects there are active.
_SVG_FOREIGN_ACTIVE = re.compile(r"<(?:form|input|iframe|embed|object)\b", re.IGNORECASE)


@dataclass
class _Page:
    """What one attachment and its decoded layers showed."""

    smuggling: set[str] = field(default_factory=set)
    obfuscation: set[str] = field(default_factory=set)
    password_fields: int = 0
    form_targets: list[str] = field(default_factory=list)
    script_sends: bool = False
    redirects: list[str] = field(default_factory=list)
    remote_scripts: list[str] = field(default_factory=list)
    remote_frames: list[str] = field(default_factory=list)  # iframe/embed/object pulling a page from the web
    titles: list[str] = field(default_factory=list)
    logos: list[str] = field(default_factory=list)  # alt texts of images loaded from the web
    links: list[Url] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    download_names: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # every layer, for the recipient search
    visible_chars: int = 0
    svg_active: set[str] = field(default_factory=set)


class HtmlAttachment:
    name: ClassVar[str] = "html_attachment"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("HTML_SMUGGLING", "html", "An attached page builds a file in the browser from data it carries "
                   "(Blob, createObjectURL, msSaveOrOpenBlob, download=): HTML smuggling"),
        SymbolSpec("HTML_SMUGGLED_FILE", "html", "A file was carved out of an attached page's script or data: URI "
                   "and scanned like an attachment"),
        SymbolSpec("HTML_CREDENTIAL_FORM", "html", "An attached page asks for a password"),
        SymbolSpec("HTML_FORM_POSTS_AWAY", "html", "An attached page sends what is typed into it to a web address"),
        SymbolSpec("HTML_OBFUSCATED_SCRIPT", "html", "An attached page hides its script or content behind encodings "
                   "(eval/unescape/atob/document.write chains, char-code lists, escape walls)"),
        SymbolSpec("HTML_REDIRECT_PAGE", "html", "An attached page with next to no content sends the browser to a web "
                   "address (meta refresh, location, window.open, automatic click)"),
        SymbolSpec("HTML_RECIPIENT_EMBEDDED", "html", "An attached page contains the recipient's address (a pre-filled "
                   "sign-in form)"),
        SymbolSpec("HTML_REMOTE_SCRIPT", "html", "An attached page loads script from the web"),
        SymbolSpec("HTML_REMOTE_LOADER", "html", "An attached page with next to no content of its own loads its "
                   "script or a full-window frame from the web: the real page arrives when it is opened"),
        SymbolSpec("SVG_ACTIVE_CONTENT", "html", "An SVG image carries script, event handlers or embedded HTML"),
    )

    def __init__(self, limits: UnpackLimits | None = None, secure_services: frozenset[str] | None = None) -> None:
        self.limits = limits or UnpackLimits()
        self.secure_services = load_secure_services() if secure_services is None else secure_services

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part in [p for p in message.walk_parts() if is_html_attachment(p)]:
            page = _Page()
            _analyse(_text_of(part.data[:MAX_PAGE_BYTES]), page, layer=0, svg=_is_svg(part))
            publish_urls(ctx, page.links)
            if self._is_secure_envelope(page):
                continue  # an encrypted-mail service's own envelope: its password form posts back to it
            if page.titles or page.logos:
                ctx.facts.setdefault(BRAND_TEXT_FACT, []).extend(page.titles[:3] + page.logos[:5])
            yield from self._report(part, page, message, ctx)
            yield from self._carve(part, page, message)

    @classmethod
    def from_folder(cls, limits: UnpackLimits, rules: Path) -> HtmlAttachment:
        return cls(limits, load_secure_services(rules / "secure_message_services.txt"))

    def _is_secure_envelope(self, page: _Page) -> bool:
        """Every form and remote script of the page belongs to one encrypted-mail service, and no script sends
        data anywhere else."""
        if not page.form_targets or page.script_sends or page.smuggling or page.svg_active:
            return False
        hosts = [u.host for u in (make_url(t, "form") for t in page.form_targets + page.remote_scripts) if u]
        orgs = {registrable_domain(h) or h for h in hosts}
        return len(hosts) == len(page.form_targets + page.remote_scripts) and orgs <= self.secure_services

    def _report(self, part: Part, page: _Page, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        ev = {"filename": part.filename or ""}
        if page.titles:
            ev["title"] = page.titles[0][:120]
        if page.smuggling:
            yield Finding("HTML_SMUGGLING", self.name, part.path, {**ev, "techniques": ", ".join(sorted(page.smuggling))})
        if page.password_fields:
            yield Finding("HTML_CREDENTIAL_FORM", self.name, part.path, {**ev, "password_fields": str(page.password_fields)})
        away = [t for t in page.form_targets if t.lower().startswith(("http:", "https:", "//"))]
        if away or (page.script_sends and page.password_fields):
            yield Finding("HTML_FORM_POSTS_AWAY", self.name, part.path,
                          {**ev, "target": (away[0] if away else "script")[:300]})
        if page.obfuscation:
            yield Finding("HTML_OBFUSCATED_SCRIPT", self.name, part.path,
                          {**ev, "techniques": ", ".join(sorted(page.obfuscation))})
        if page.redirects and page.visible_chars <= REDIRECT_MAX_TEXT and not (page.password_fields or page.smuggling):
            yield Finding("HTML_REDIRECT_PAGE", self.name, part.path, {**ev, "target": page.redirects[0][:300]})
        recipient = _embedded_recipient(page, message, ctx)
        if recipient:
            yield Finding("HTML_RECIPIENT_EMBEDDED", self.name, part.path, {**ev, "address": recipient})
        if page.remote_scripts:
            yield Finding("HTML_REMOTE_SCRIPT", self.name, part.path,
                          {**ev, "src": page.remote_scripts[0][:300], "count": str(len(page.remote_scripts))})
        loads = page.remote_frames + page.remote_scripts
        if loads and page.visible_chars <= REDIRECT_MAX_TEXT and not (page.password_fields or page.smuggling):
            yield Finding("HTML_REMOTE_LOADER", self.name, part.path, {**ev, "src": loads[0][:300]})
        if page.svg_active:
            yield Finding("SVG_ACTIVE_CONTENT", self.name, part.path, {**ev, "content": ", ".join(sorted(page.svg_active))})

    def _carve(self, part: Part, page: _Page, message: ParsedMessage) -> Iterable[Finding]:
        """Hand carved files to the other detectors as children of the page (and open them if archives)."""
        files = [blob for blob in page.blobs if _is_file(blob, smuggling=bool(page.smuggling))][:MAX_CARVED]
        files.sort(key=len, reverse=True)  # the download name belongs to the payload, the biggest blob
        names = list(dict.fromkeys(page.download_names))
        for index, data in enumerate(files):
            kind = sniff(data)
            name = names[index] if index < len(names) else f"carved-{index + 1}.{_EXTENSIONS.get(kind, 'bin')}"
            child = child_part(part, name.replace("/", "_"), data, SMUGGLED_CONTAINER)
            if child is None:
                continue
            if page.smuggling:
                yield Finding("HTML_SMUGGLED_FILE", self.name, child.path,
                              {"filename": name, "type": kind, "bytes": str(len(data))})
            yield from unpack_part(child, message, self.limits,
                                   lambda: harvest_passwords(f"{message.subject}\n{message.body_text}"))


_EXTENSIONS = {"zip": "zip", "pe": "exe", "pdf": "pdf", "iso": "iso", "ole": "doc", "docx": "docx", "docm": "docm",
               "xlsx": "xlsx", "xlsm": "xlsm", "7z": "7z", "rar": "rar", "lnk": "lnk", "png": "png", "jpeg": "jpg",
               "gif": "gif", "text": "txt", "html": "html", "onenote": "one", "gzip": "gz"}
_IMAGES = frozenset({"png", "jpeg", "gif"})


def load_secure_services(*extra: Path) -> frozenset[str]:
    """The stock list plus the operator's files (`<home>/rules/secure_message_services.txt`), when present."""
    texts = [resources.files("kakuri.data").joinpath("secure_message_services.txt").read_text(encoding="utf-8")]
    texts += [path.read_text(encoding="utf-8") for path in extra if path.is_file()]
    return frozenset(line.strip().lower() for text in texts for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def is_html_attachment(part: Part) -> bool:
    kind = part.true_type or ""
    ctype = part.content_type.lower()
    return (kind in ("html", "svg") or part.extension in HTML_EXTENSIONS
            or ctype in ("text/html", "image/svg+xml", "application/xhtml+xml")) and kind not in _NOT_MARKUP


_NOT_MARKUP = frozenset({"zip", "pdf", "ole", "pe", "png", "jpeg", "gif", "7z", "rar", "gzip", "elf"})


def _is_svg(part: Part) -> bool:
    return part.true_type == "svg" or part.extension in ("svg", "svgz") or "svg" in part.content_type.lower()


def _is_file(blob: bytes, smuggling: bool) -> bool:
    """Worth handing to the other detectors: a binary file type, an image (QR codes), or anything a smuggling
    page saves to disk (a script is "text")."""
    if len(blob) < MIN_CARVED_BYTES:
        return False
    kind = sniff(blob)
    if kind == "html":
        return False  # analysed as a layer instead
    return smuggling or kind not in ("text", "data") or kind in _IMAGES


def _text_of(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _analyse(text: str, page: _Page, layer: int, svg: bool = False) -> None:
    page.texts.append(text)
    if svg:
        for link in _SVG_LINK.findall(text[:MAX_PAGE_BYTES]):
            _link(page, link, "a")
        head = text[:MAX_PAGE_BYTES]
        page.svg_active.update(_svg_feature(m.group(0)) for m in _SVG_ACTIVE.finditer(head))
        foreign = head.find("<foreignObject")
        if foreign >= 0 and _SVG_FOREIGN_ACTIVE.search(head, foreign):
            page.svg_active.add("foreignObject with a form or frame")
    if _nesting_depth(text) > MAX_NESTING:
        # Thousands of unclosed elements make HTML5 tree building quadratic (Lexbor included): read the scripts
        # by pattern instead, and take the padding for what it is, a page built to choke scanners.
        page.obfuscation.add("element nesting bomb")
        for match in _SCRIPT_BLOCK.finditer(text[:MAX_PAGE_BYTES]):
            _read_script(match.group(1), page, layer)
        return
    tree = LexborHTMLParser(text)
    scripts = [node.text() or "" for node in tree.css("script")]
    _read_markup(tree, page)
    for script in scripts:
        _read_script(script, page, layer)
    for handler in _handlers(tree):
        _read_script(handler, page, layer)
    for kind, data in data_uris(text):
        if kind.startswith("image/") or "download" in text.lower() or page.smuggling:
            page.blobs.append(data)
    tree.strip_tags(["script", "style", "noscript", "template"])
    body = tree.body
    page.visible_chars += len(" ".join((body.text(separator=" ") if body else "").split()))


_SENDING_WORDS = ("ajax", "post", "fetch", "XMLHttpRequest", "sendBeacon")
_REDIRECT_WORDS = ("location", "open", "click")


def _words_used(script: str, patterns) -> set[str]:
    return {word.strip(".") for word, pattern in patterns if word in script and pattern.search(script)}


def _has_any(text: str, words: tuple[str, ...]) -> bool:
    return any(word in text for word in words)


def _svg_feature(found: str) -> str:
    found = found.lower()
    if found.startswith("<script"):
        return "script"
    if found.startswith("javascript:"):
        return "javascript: link"
    return "event handler " + found.rsplit(" ", 1)[-1].split("=")[0].strip()


def _nesting_depth(text: str) -> int:
    """Elements left open at the end, counted from the tags alone (void elements never open)."""
    depth = 0
    for closing, name, self_closing in _TAG_NAME.findall(text[:MAX_PAGE_BYTES]):
        if self_closing or name.lower() in _VOID:
            continue
        depth += -1 if closing else 1
    return depth


def _read_markup(tree: LexborHTMLParser, page: _Page) -> None:
    title = tree.css_first("title")
    if title is not None and title.text(strip=True):
        page.titles.append(" ".join(title.text().split()))
    for node in tree.css("input"):
        if (node.attributes.get("type") or "").strip().lower() == "password":
            page.password_fields += 1
    for node in tree.css("form"):
        target = (node.attributes.get("action") or "").strip()
        if target:
            page.form_targets.append(target)
            _link(page, target, "form")
    for node in tree.css("meta"):
        if (node.attributes.get("http-equiv") or "").lower() == "refresh":
            found = re.search(r"url\s*=\s*['\"]?([^'\"\s>]+)", node.attributes.get("content") or "", re.IGNORECASE)
            if found:
                page.redirects.append(found.group(1))
                _link(page, found.group(1), "refresh")
    for node in tree.css("a[href], area[href]"):
        _link(page, node.attributes.get("href") or "", "a")
        if "download" in node.attributes:
            if (node.attributes.get("href") or "").startswith(("data:", "blob:")):
                page.smuggling.add("download= anchor")
            if node.attributes.get("download"):
                page.download_names.append(node.attributes["download"])
    for node in tree.css("img[src][alt]"):
        if (node.attributes.get("src") or "").lower().startswith(("http:", "https:", "//")) and node.attributes["alt"]:
            page.logos.append(node.attributes["alt"].strip()[:120])
    for node in tree.css("iframe[src], frame[src], embed[src], object[data]"):
        src = (node.attributes.get("src") or node.attributes.get("data") or "").strip()
        if src.lower().startswith(("http:", "https:", "//")):
            page.remote_frames.append(src)
            _link(page, src, "frame")
    for node in tree.css("script[src]"):
        src = (node.attributes.get("src") or "").strip()
        if src.lower().startswith(("http:", "https:", "//")):
            page.remote_scripts.append(src)


def _handlers(tree: LexborHTMLParser) -> list[str]:
    """Inline event-handler code (onload="...", onclick="...") of the page."""
    code = []
    for node in tree.css("[onload], [onerror], [onclick], [onmouseover], [onfocus]"):
        code.extend(v for k, v in node.attributes.items() if k.lower().startswith("on") and v)
    return code


def _read_script(script: str, page: _Page, layer: int) -> None:
    # Each pattern runs only when one of its words occurs: `in` is a C scan, and hostile scripts are megabytes.
    page.smuggling.update(_words_used(script, _SMUGGLING))
    if page.smuggling:
        page.download_names.extend(_DOWNLOAD_NAME.findall(script))
    decoders = _words_used(script, _DECODERS)
    if "assword" in script and _PASSWORD_IN_SCRIPT.search(script):
        page.password_fields += 1
    if _has_any(script, _SENDING_WORDS) and _SCRIPT_SENDS.search(script):
        page.script_sends = True
    if _has_any(script, _REDIRECT_WORDS) and _JS_REDIRECT.search(script):
        target = next((s for s in string_literals(script) if s.lower().startswith(("http:", "https:"))), "")
        if target or ".click" in script:
            page.redirects.append(target or "automatic click")
    if (script.count("%") >= 40 or "\\x" in script or "\\u00" in script) and any(
            len(run.group(0)) >= 120 for run in _ESCAPE_RUN.finditer(script)):
        page.obfuscation.add("escape wall")
    if "_0x" in script and len(_OBFUSCATOR_NAMES.findall(script, 0, 200_000)) >= 20:
        page.obfuscation.add("generated identifiers (_0x...)")
    if "decrypt" in script and _ENCRYPTED_LAYER.search(script):
        page.obfuscation.add("encrypted layer")
    for codes in char_code_arrays(script):
        page.obfuscation.add("char-code list")
        _decoded(codes, page, layer)
    for literal in string_literals(script):
        if literal.lower().startswith(("http:", "https:")):
            _link(page, literal, "html-attachment")
        blob = decode_blob(literal)
        if blob is None:
            continue
        encoding, data = blob
        if decoders or page.smuggling:
            page.obfuscation.add(f"{encoding} layer")
        _decoded(data, page, layer)
    if len(decoders & {"eval", "document.write", "document.writeln", "Function"}) and len(decoders) >= 2:
        page.obfuscation.add(" + ".join(sorted(decoders))[:80])


def _decoded(data: bytes, page: _Page, layer: int) -> None:
    """A decoded layer: a page is analysed as a page, script text as script, anything else kept for carving."""
    kind = sniff(data)
    if kind == "html" or (kind == "text" and b"<" in data[:200] and b">" in data[:400]):
        if layer < MAX_LAYERS:
            _analyse(_text_of(data), page, layer + 1)
        return
    if kind == "text" and layer < MAX_LAYERS:
        text = _text_of(data)
        page.texts.append(text)
        _read_script(text, page, layer + 1)
    page.blobs.append(data)


def _link(page: _Page, raw: str, source: str) -> None:
    url = make_url(raw, "html-attachment") if raw.lower().startswith(("http:", "https:", "//", "www.")) else None
    if url is not None and len(page.links) < 100:
        page.links.append(url)


def _embedded_recipient(page: _Page, message: ParsedMessage, ctx: ScanContext) -> str:
    """The recipient's address written in the page or its layers, plainly or base64-encoded (URL fragments)."""
    addresses = {a.lower() for a in (*ctx.envelope.rcpt_tos, *message.recipients) if "@" in a}
    if not addresses:
        return ""
    haystack = "\n".join(page.texts).lower()
    for address in sorted(addresses):
        encoded = base64.b64encode(address.encode()).decode().rstrip("=")
        if address in haystack or encoded.lower()[:-2] in haystack:
            return address
    return ""
