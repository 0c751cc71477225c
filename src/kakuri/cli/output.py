"""The only way CLI commands print: a rich console that never parses markup, and tables whose cells
are shown as written (`kakuri.display.visible`), cut to a length that keeps a 100 kB subject from
flooding the terminal.

Subjects, names, file names and hosts come from attackers; rich would read `[/]` in them as a closing
tag (a MarkupError for every operator) and `[link=...]` as a hyperlink. Styles of our own are given
as `style=` or `Text` pieces, never as markup in a string. tests/cli/test_hostile_output.py fails on a
CLI module that builds its own Console or Table.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from kakuri.display import is_hidden, visible

CELL_LIMIT = 300  # characters of one table cell
LINE_LIMIT = 20_000  # characters of one printed block


class SafeConsole(Console):
    """Every string printed, as a whole or in a table, goes through here: no markup, no emoji codes,
    no highlighting, control characters shown as escapes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs.update(markup=False, emoji=False, highlight=False)
        return super().render_str(visible(text, limit=LINE_LIMIT, newlines=True), **kwargs)


class SafeTable(Table):
    """A table whose cells are one line each, shown as written and cut at CELL_LIMIT characters."""

    def add_row(self, *cells: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().add_row(*(c if isinstance(c, Text) else Text(visible(c, limit=CELL_LIMIT)) for c in cells), **kwargs)


class SafeLogHandler(RichHandler):
    """Log lines quote paths and values from the logs being read; they are shown, not obeyed."""

    def render_message(self, record, message: str):  # type: ignore[override]
        return super().render_message(record, visible(message, limit=LINE_LIMIT, newlines=True))


class VisibleLogFilter(logging.Filter):
    """Gateway log lines quote senders, recipients, subjects and replies: one line each, control and
    bidi characters as escapes, so a subject cannot forge a log line or colour the operator's terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = visible(record.getMessage(), limit=LINE_LIMIT), None
        return True


def console(*, stderr: bool = False) -> SafeConsole:
    return SafeConsole(stderr=stderr)


def table(*headers: str, title: str | None = None) -> SafeTable:
    return SafeTable(*headers, title=title)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line mixing our own styled words with values: styled(("ON", "bold red"), " ", value)."""
    return Text.assemble(*((p[0], p[1]) if isinstance(p, tuple) else visible(p, limit=LINE_LIMIT) for p in parts))


def echo(text: Any, *, err: bool = False) -> None:
    """A plain line (for grep and pipes) that may hold values from mail."""
    typer.echo(visible(text, limit=LINE_LIMIT, newlines=True), err=err)


def fail(message: Any, code: int = 1) -> typer.Exit:
    """Print `error: message` to stderr and return the Exit to raise."""
    typer.secho(f"error: {visible(message, limit=LINE_LIMIT)}", fg="red", err=True)
    return typer.Exit(code)


def json_text(value: Any, *, indent: int | None = None) -> str:
    """JSON for --jsonl and `show`: lossless, readable UTF-8, but with hidden characters written as
    \\u escapes (json.dumps leaves DEL, C1 controls and bidi overrides raw when ensure_ascii is off)."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return "".join(_json_escape(ch) if is_hidden(ch) else ch for ch in text) if not text.isprintable() else text


def _json_escape(ch: str) -> str:
    if ch == "\n":
        return ch  # only json's own indentation: newlines inside strings are already escaped
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
