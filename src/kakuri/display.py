"""Showing text we did not write (subjects, names, addresses, file names, hosts, reasons) to a person.

Everything an attacker can put in a mail or a log reaches operators' terminals, the console, reports
and warning mails. Each output format escapes its own syntax (rich markup is never parsed in the CLI,
Jinja autoescapes HTML, `markdown_text` escapes Markdown); what they all share is `visible`:
characters that change what a screen shows without being seen are written as escapes instead
(terminal control sequences, NUL, bidirectional overrides that reverse `exe.pdf` into `fdp.exe`,
line separators, lone surrogates that crash encoders), and huge values are cut with a marker.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Format characters kept: the zero-width joiner builds emoji and some scripts; nothing it does hides text.
_KEEP_FORMAT = {"\u200d"}
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def visible(value: Any, *, limit: int | None = None, newlines: bool = False) -> str:
    """`value` as text that shows exactly what it contains; `newlines=True` keeps line breaks and tabs
    (multi-line text of our own, such as a whole printed block); `limit` cuts it to that many characters."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… (+{len(text) - limit} characters)"
    if text.isprintable():
        return text
    return "".join(_shown(ch, newlines) for ch in text)


def is_hidden(ch: str) -> bool:
    """A character that acts on the display instead of showing (spaces, private use and unassigned
    code points are not)."""
    return not ch.isprintable() and ch not in _KEEP_FORMAT and unicodedata.category(ch) in _HIDDEN_CATEGORIES


def _shown(ch: str, newlines: bool) -> str:
    if not is_hidden(ch) or (newlines and ch in "\n\t"):
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def html_value(value: Any) -> Any:
    """Jinja `finalize` for HTML templates (autoescape does the HTML): markup we built ourselves passes,
    everything else is made `visible`, line breaks kept."""
    return value if hasattr(value, "__html__") else visible(value, newlines=True)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def markdown_text(value: Any, *, limit: int | None = 2000) -> str:
    """`visible` for a Markdown document: one line, with every character Markdown (or the HTML inside
    it) would act on backslash-escaped, so a title cannot become a link, an image, a tag or a table cell."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", visible(value, limit=limit))
