"""`kakuri scan PATH...`: scan files, folders and mbox files; a table by default, --jsonl for machines."""

from __future__ import annotations

import json
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Optional

import typer

from kakuri.cli import output, state
from kakuri.cli.inputs import InputError, count_messages, iter_messages
from kakuri.cli.progress import progress_bar
from kakuri.model import Action, Direction, Envelope
from kakuri.model.knowledge import Knowledge

console = output.console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)


def scan(
    paths: list[Path] = typer.Argument(..., help="Message files, folders of them, or mbox files"),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", help="Write one JSON line per message to this file ('-' = stdout)"),
    show: str = typer.Option("flagged", "--show", help="Table rows: all | flagged | none"),
) -> None:
    """Scan messages and show the verdict of each, with the symbols that decided it."""
    from kakuri.wiring import build_scanner_from_home

    settings = state.settings()
    scanner = build_scanner_from_home(settings)
    out = _open_out(jsonl)
    counts: dict[str, int] = {}
    rows = []
    batch = mailbox_scan(scanner)  # PPAP pairs across the messages read, judged as the gateway judges them
    names = []
    try:
        with progress_bar("scanning", count_messages(paths)) as advance:
            for item in iter_messages(paths):
                batch.add(item.name, item.raw, envelope_from_headers(item.raw, scanner.knowledge))
                names.append(item.name)
                advance()
        for name, verdict in zip(names, batch.verdicts()):
            counts[verdict.action.value] = counts.get(verdict.action.value, 0) + 1
            if out:
                out.write(json.dumps(scan_record(name, verdict), ensure_ascii=False) + "\n")
            if show == "all" or (show == "flagged" and verdict.action is not Action.DELIVER):
                rows.append((name, verdict))
    except InputError as exc:
        raise output.fail(exc, 2) from exc
    finally:
        if out and out is not _STDOUT:
            out.close()
    _print_table(rows, counts)


def mailbox_scan(scanner):
    from kakuri.mailbox_scan import MailboxScan
    from kakuri.receive.ppap import PpapConfig

    return MailboxScan(scanner, hold_seconds=PpapConfig.from_settings(scanner.settings).hold_seconds)


def scan_record(name: str, verdict) -> dict:
    return {
        "file": name,
        "action": verdict.action.value,
        "score": round(verdict.score, 2),
        "symbols": verdict.symbols,
        "reasons": list(verdict.reasons),
        "findings": [f.as_dict() for f in verdict.findings],
    }


def envelope_from_headers(raw: bytes, knowledge: Knowledge) -> Envelope:
    """Without an SMTP envelope, take sender and recipients from the headers to know the direction."""
    headers = BytesHeaderParser().parsebytes(raw[:65536])
    sender = parseaddr(str(headers.get("From", "")))[1].lower()
    rcpts = tuple(a.lower() for _, a in getaddresses([str(v) for v in headers.get_all("To", []) + headers.get_all("Cc", [])]) if a)
    ours_from = knowledge.is_our_domain(sender.rpartition("@")[2]) if sender else False
    external_rcpt = any(not knowledge.is_our_domain(r.rpartition("@")[2]) for r in rcpts)
    if not ours_from:
        direction = Direction.INBOUND
    elif external_rcpt:
        direction = Direction.OUTBOUND
    else:
        direction = Direction.INTERNAL
    return Envelope(mail_from=sender, rcpt_tos=rcpts, direction=direction)


_STDOUT = object()


def _open_out(path: Optional[Path]):
    if path is None:
        return None
    if str(path) == "-":
        import sys

        return sys.stdout
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")


def _print_table(rows, counts: dict[str, int]) -> None:
    out = output.console()
    if rows:
        table = output.table("message", "action", "score", "symbols", title="verdicts")
        for name, verdict in rows:
            table.add_row(name, verdict.action.value, f"{verdict.score:.1f}", " ".join(verdict.symbols))
        out.print(table)
    total = sum(counts.values())
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    out.print(f"scanned {total} message(s): {summary or 'nothing'}")
