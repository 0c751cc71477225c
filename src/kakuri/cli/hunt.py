"""`kakuri hunt --feeds DIR LOG_PATHS...`: find infected hosts and abused accounts in network and mail logs."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kakuri.cli import state

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("hunt")(hunt_command)


def hunt_command(
    log_paths: list[Path] = typer.Argument(..., help="Log files or folders (Squid, Zeek conn/dns/files, Postfix maillog; plain, rotated or .gz)"),
    feeds: Path = typer.Option(..., "--feeds", help="Folder with Feodo/URLhaus CSVs and SHA-256 lists"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every host and account as JSON"),
    notify_csv: Optional[Path] = typer.Option(None, "--notify-csv", help="Write the warning list (who to warn, for whom)"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Evaluate against a netlogs labels.json"),
    show: str = typer.Option("infected", "--show", help="Table rows: all | infected | none"),
) -> None:
    """Score every internal host and mail account; list the infected ones and whom to warn."""
    from kakuri.hunt import HuntConfig, hunt
    from kakuri.hunt.feeds import add_feed_text, fetch_feed, load_feeds
    from kakuri.hunt.sources import expand

    settings = state.settings()
    try:
        cfg = HuntConfig.model_validate(settings.section("hunt"))
    except ValidationError as exc:
        console.print(f"[red]error:[/red] [hunt] section of the configuration: {exc}")
        raise typer.Exit(2) from exc
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=console, show_path=False)], force=True)
    missing = [p for p in [feeds, *log_paths] if not p.exists()]
    if missing:
        console.print(f"[red]error:[/red] not found: {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    feed_set = load_feeds(feeds)
    for url in cfg.feed_urls:
        add_feed_text(feed_set, fetch_feed(url))
    files, unknown = expand(log_paths)
    for path in unknown:
        console.print(f"[yellow]skipped[/yellow] {path}: not a log format hunt reads")
    if not files:
        console.print("[red]error:[/red] no recognisable log files")
        raise typer.Exit(2)
    with _progress() as (progress, task):
        progress.update(task, total=sum(f.size for f in files))
        report = hunt(files, feed_set, settings.policy, cfg, knowledge=_knowledge(settings),
                      on_progress=lambda n: progress.advance(task, n))
    records = [r.as_json() for r in report.records]
    if json_out:
        json_out.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    if notify_csv:
        write_notify_csv(notify_csv, records)
    _print_summary(report, records, show)
    if labels:
        from kakuri.hunt.evaluation import evaluate

        result = evaluate(records, json.loads(labels.read_text(encoding="utf-8")))
        for name in ("missed_hosts", "false_hosts", "missed_accounts", "false_accounts", "trap_hosts_flagged"):
            if getattr(result, name):
                console.print(f"{name}: {', '.join(getattr(result, name))}")
        typer.echo(result.summary())


def write_notify_csv(path: Path, records: list[dict]) -> None:
    """One row per (contact, infected host or account): the warning list."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["contact", "on_behalf_of_kind", "on_behalf_of", "first_seen"])
        for record in records:
            if record["verdict"] != "infected":
                continue
            kind = "host" if "host" in record else "account"
            for contact in record["notify"]:
                writer.writerow([contact, kind, record[kind], record["first_seen"]])


def _knowledge(settings):
    """The stored contact graph, when the data folder has one (never creates a database for a hunt)."""
    if not Path(settings.home).is_dir():
        return None
    try:
        from kakuri.store.knowledge import load_knowledge

        return _ContactGraph(load_knowledge(settings))
    except Exception as exc:  # noqa: BLE001 - optional enrichment: a broken store must not stop a hunt
        console.print(f"[yellow]contact graph not used:[/yellow] {exc}")
        return None


class _ContactGraph:
    """What hunt needs from the knowledge store: known correspondents, and the peers of an address."""

    def __init__(self, store):
        self.store = store

    def is_known_contact(self, address: str) -> bool:
        return self.store.is_known_contact(address)

    def contacts_of(self, address: str) -> set[str]:
        peers = getattr(self.store, "_peers", {})  # KnowledgeIndex keeps no public accessor for peers yet
        return set(peers.get(address.lower(), ()))


class _progress:
    def __enter__(self):
        self.progress = Progress(TextColumn("[bold]hunting"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                                 console=console, transient=True)
        self.progress.__enter__()
        return self.progress, self.progress.add_task("hunting", total=None)

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)


def _print_summary(report, records: list[dict], show: str) -> None:
    infected = [r for r in records if r["verdict"] == "infected"]
    if show != "none":
        rows = records if show == "all" else infected
        table = Table(title=f"hunt: {len(infected)} infected of {len(records)} hosts/accounts")
        for column in ("host / account", "name", "score", "verdict", "first seen", "notify"):
            table.add_column(column, no_wrap=True)
        table.add_column("evidence (HUNT_*)")
        for r in sorted(rows, key=lambda r: -r["score"]):
            key = r.get("host") or r.get("account")
            symbols = " ".join(dict.fromkeys(e["symbol"].removeprefix("HUNT_") for e in r["evidence"]))
            style = "red" if r["verdict"] == "infected" else None
            table.add_row(key, r.get("hostname") or "", f"{r['score']:g}", r["verdict"], r["first_seen"][:16],
                          str(len(r["notify"])), symbols, style=style)
        console.print(table)
    stats = report.stats
    console.print(
        f"{stats.lines} lines in {report.seconds:.1f} s ({report.lines_per_second:,.0f} lines/s), "
        f"{stats.malformed_total} malformed skipped, {len(report.files)} files"
    )
