"""`kakuri eval CORPUS`: reproducible detection and false-positive figures on a labelled corpus."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kakuri.cli import state
from kakuri.cli.progress import progress_bar
from kakuri.cli.scan import mailbox_scan, scan_record
from kakuri.report.evaluation import Evaluation, carrier_of, group_misses, per_carrier_rows, per_family_rows, read_labels


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)


def evaluate(
    corpus: Path = typer.Argument(..., help="Folder with messages/ and labels.jsonl"),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", help="Also write each verdict as a JSON line"),
    show_misses: bool = typer.Option(True, "--misses/--no-misses", help="List messages not handled as labelled"),
    max_misses: int = typer.Option(20, "--max-misses", help="At most this many misses listed per family"),
) -> None:
    """Scan a labelled corpus with its SMTP envelopes; print detection and false-positive rates per family."""
    from kakuri.wiring import build_scanner_from_home

    try:
        items = list(read_labels(corpus))
    except (FileNotFoundError, ValueError, KeyError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    scanner = build_scanner_from_home(state.settings())
    evaluation = Evaluation()
    out = jsonl.open("w", encoding="utf-8") if jsonl else None
    started = time.perf_counter()
    batch = mailbox_scan(scanner)  # PPAP pairs across the corpus, judged as the gateway judges them
    carriers = []
    with progress_bar("evaluating", len(items)) as advance:
        for item in items:
            carriers.append(carrier_of(batch.add(item.file, item.path.read_bytes(), item.envelope).message))
            advance()
    for item, verdict, carrier in zip(items, batch.verdicts(), carriers):
        evaluation.add(item, verdict, carrier)
        if out:
            record = {**scan_record(item.file, verdict), "label": item.label, "family": item.family, "carrier": carrier}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    seconds = time.perf_counter() - started
    if out:
        out.close()
    _print(evaluation, len(items), seconds, max_misses if show_misses else 0)


def _print(evaluation: Evaluation, count: int, seconds: float, max_misses: int) -> None:
    console = Console()
    table = Table("label", "family", "as expected", "total", "rate", title="per family")
    for label, family, ok, total, rate in per_family_rows(evaluation):
        style = "green" if rate == 1.0 else "red"
        table.add_row(label, family, str(ok), str(total), f"[{style}]{rate:.0%}[/{style}]")
    console.print(table)
    by_carrier = Table("label", "carries", "as expected", "total", "rate", title="per carried content")
    for label, carrier, ok, total, rate in per_carrier_rows(evaluation):
        by_carrier.add_row(label, carrier, str(ok), str(total), f"{rate:.0%}")
    console.print(by_carrier)
    for family, misses in sorted(group_misses(evaluation).items()):
        for miss in misses[:max_misses]:
            console.print(f"  [yellow]{family}[/yellow]: {escape(miss)}")
        if len(misses) > max_misses > 0:
            console.print(f"  [yellow]{family}[/yellow]: ... and {len(misses) - max_misses} more (--jsonl lists every verdict)")
    console.print(
        f"detection rate {evaluation.detection_rate:.1%}, false positives {evaluation.false_positives} "
        f"({evaluation.false_positive_rate:.1%}); {count} messages in {seconds:.1f} s ({count / seconds:.0f} msg/s, one process)"
    )
