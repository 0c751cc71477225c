"""`kakuri hunt`: find infected hosts and abused accounts in network and mail logs.

    kakuri hunt --feeds DIR LOGS...        one-shot (same as `hunt scan`): a throwaway store, then a run
    kakuri hunt ingest LOGS...             add new log files to the store (each file once, by content)
    kakuri hunt run --feeds DIR [--since]  analyse what the store holds, reusing earlier days' summaries
    kakuri hunt bench                      N renumbered copies of a labelled set: lines/s and peak memory
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from typer.core import TyperGroup

from kakuri.cli import state
from kakuri.cli.hunt_output import FORMATS, print_records

console = Console(stderr=True)


class _ScanByDefault(TyperGroup):
    """`kakuri hunt --feeds F LOGS` keeps working: anything that is not a subcommand means `scan`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["scan", *args]
        return super().parse_args(ctx, args)


hunt_app = typer.Typer(cls=_ScanByDefault, no_args_is_help=True,
                       help="Find infected hosts and abused mail accounts in proxy, Zeek and mail logs.")

FeedsOption = typer.Option(..., "--feeds", help="Folder with Feodo/URLhaus CSVs and SHA-256 lists")
JsonOption = typer.Option(None, "--json", help="Write every host and account as JSON (read by incident import-hunt)")
NotifyOption = typer.Option(None, "--notify-csv", help="Write the warning list (who to warn, for whom)")
LabelsOption = typer.Option(None, "--labels", help="Evaluate against a netlogs labels.json")
ShowOption = typer.Option("infected", "--show", help="Rows: all | infected | none")
FormatOption = typer.Option("auto", "--format", help="auto (table on a terminal, else lines) | table | lines | jsonl | csv")
StoreOption = typer.Option(None, "--store", help="Store folder (default: [hunt] store_dir, else <data folder>/hunt)")
LogsArgument = typer.Argument(..., help="Log files or folders (Squid, Zeek conn/dns/files, Postfix maillog; plain, rotated or .gz)")


def register(app: typer.Typer) -> None:
    app.add_typer(hunt_app, name="hunt")


@hunt_app.command("scan")
def scan(
    log_paths: list[Path] = LogsArgument,
    feeds: Path = FeedsOption,
    json_out: Optional[Path] = JsonOption,
    notify_csv: Optional[Path] = NotifyOption,
    labels: Optional[Path] = LabelsOption,
    show: str = ShowOption,
    fmt: str = FormatOption,
) -> None:
    """Score every internal host and mail account in LOGS (nothing is kept); list the infected and whom to warn."""
    from kakuri.hunt import hunt

    settings, cfg = _settings()
    _check_format(fmt)
    feed_set = _feeds(feeds, cfg)
    files = _log_files(log_paths)
    with _progress() as (progress, task):
        progress.update(task, total=sum(f.size for f in files))
        report = hunt(files, feed_set, settings.policy, cfg, knowledge=_knowledge(settings),
                      on_progress=lambda n: progress.advance(task, n))
    _malformed(report.stats)
    _results(report, json_out, notify_csv, labels, show, fmt)


@hunt_app.command("ingest")
def ingest(log_paths: list[Path] = LogsArgument, store_dir: Optional[Path] = StoreOption) -> None:
    """Parse new log files into the store (Parquet by table and day) and summarise the days they touch."""
    from kakuri.hunt.daily import connect, refresh, refresh_mail
    from kakuri.hunt.store import HuntStore

    settings, cfg = _settings()
    store = HuntStore(_store_path(store_dir, settings, cfg))
    files = _log_files(log_paths)
    started = time.perf_counter()
    with _progress() as (progress, task):
        progress.update(task, total=sum(f.size for f in files))
        report = store.ingest(files, cfg, on_progress=lambda n: progress.advance(task, n))
    days = sorted({d.partition("/")[2] for d in report.days if not d.startswith("mail/")})
    maildays = sorted(d.partition("/")[2] for d in report.days if d.startswith("mail/"))
    con = connect(cfg, store)
    try:
        summarised = refresh(store, con, cfg, days)
        summarised_mail = refresh_mail(store, con, cfg, maildays)
    finally:
        con.close()
    seconds = time.perf_counter() - started
    _malformed(report.stats)
    for name in report.skipped:
        console.print(f"[dim]already in the store:[/dim] {name}")
    for name in report.appended:
        console.print(f"grown since last ingest, new lines only: {name}")
    typer.echo(f"{len(report.files) + len(report.appended)} file(s) ingested, {len(report.skipped)} already there; "
               f"{report.stats.lines} lines, {report.rows} records, "
               f"{len(summarised)} network and {len(summarised_mail)} mail day(s) summarised, "
               f"{report.stats.malformed_total} malformed skipped, in {seconds:.1f} s "
               f"({report.stats.lines / seconds if seconds else 0:,.0f} lines/s) -> {store.root}")


@hunt_app.command("run")
def run_command(
    feeds: Path = FeedsOption,
    since: Optional[str] = typer.Option(None, "--since", help="First UTC day to analyse, YYYY-MM-DD (default: all)"),
    store_dir: Optional[Path] = StoreOption,
    json_out: Optional[Path] = JsonOption,
    notify_csv: Optional[Path] = NotifyOption,
    labels: Optional[Path] = LabelsOption,
    show: str = ShowOption,
    fmt: str = FormatOption,
) -> None:
    """Analyse the store: every host and account seen since --since, scored with the policy."""
    from kakuri.hunt.run import run
    from kakuri.hunt.store import HuntStore

    settings, cfg = _settings()
    _check_format(fmt)
    path = _store_path(store_dir, settings, cfg)
    if not (path / "manifest.json").exists():
        console.print(f"[red]error:[/red] no hunt store at {path}: run `kakuri hunt ingest LOGS` first")
        raise typer.Exit(2)
    report = run(HuntStore(path), _feeds(feeds, cfg), settings.policy, cfg, since=since, knowledge=_knowledge(settings))
    if report.summarised_days or report.summarised_mail_days:
        console.print(f"summarised {len(report.summarised_days)} network and {len(report.summarised_mail_days)} "
                      "mail day(s) not summarised at ingest")
    _results(report, json_out, notify_csv, labels, show, fmt)


@hunt_app.command("bench")
def bench(
    source: Path = typer.Option(Path("/work/shared/netlogs"), "--source", help="A labelled netlogs folder (logs/, feeds/, labels.json)"),
    copies: int = typer.Option(50, "--copies", min=1, help="Renumbered, time-shifted copies of its logs"),
    work: Optional[Path] = typer.Option(None, "--work", help="Folder for the copies and the store (default: a temporary one)"),
    memory_mb: int = typer.Option(1024, "--memory-mb", help="DuckDB memory cap for the run"),
    keep: bool = typer.Option(False, "--keep", help="Keep the copies and the store"),
) -> None:
    """Ingest COPIES renumbered copies of a labelled set, run twice; lines/s, peak memory and the score."""
    from kakuri.hunt.benchmark import make_copies
    from kakuri.hunt.evaluation import evaluate

    folder = work or Path(tempfile.mkdtemp(prefix="kakuri-hunt-bench-"))
    try:
        started = time.perf_counter()
        made = make_copies(source, folder, copies)
        typer.echo(f"generated {copies} copies: {made['lines']:,} lines in {made['files']} files "
                   f"({time.perf_counter() - started:.1f} s)")
        store = folder / "store"
        phases = [("ingest", folder / "logs"), ("run", source / "feeds"), ("run", source / "feeds")]
        for i, (phase, path) in enumerate(phases):
            result, peak_mb = _measured([phase, str(store), str(path), str(memory_mb)])
            cpu = result["cpu_seconds"]  # all threads of the step itself: on a shared machine, fairer than the clock
            label = phase if phase == "ingest" else ("run (after ingest)" if i == 1 else "run again")
            typer.echo(f"{label}: {result['lines']:,} lines in {result['seconds']:.2f} s = "
                       f"{result['lines'] / result['seconds']:,.0f} lines/s "
                       f"({result['lines'] / cpu:,.0f} per CPU-second), peak memory {peak_mb:,.0f} MB"
                       + (f", {result['days']} network and {result['mail_days']} mail day(s) summarised"
                          if phase == "ingest" else
                          f", {result['infected']} infected of {result['records']}"))
        labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        typer.echo(evaluate(json.loads((store / "result.json").read_text(encoding="utf-8")), labels).summary())
        typer.echo(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    finally:
        if not keep and work is None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


def _measured(argv: list[str]) -> tuple[dict, float]:
    """Run one phase in a child process: its result and its own peak resident memory in MB."""
    child = subprocess.Popen([sys.executable, "-m", "kakuri.hunt.benchmark", *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    stdout = child.stdout.read()
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        console.print(stderr)
        raise typer.Exit(1)
    return json.loads(stdout.strip().splitlines()[-1]), usage.ru_maxrss / 1024


# --- shared steps -------------------------------------------------------------------------------
def _settings():
    from kakuri.hunt import HuntConfig

    settings = state.settings()
    try:
        return settings, HuntConfig.model_validate(settings.section("hunt"))
    except ValidationError as exc:
        console.print(f"[red]error:[/red] [hunt] section of the configuration: {exc}")
        raise typer.Exit(2) from exc


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        console.print(f"[red]error:[/red] --format must be one of {', '.join(FORMATS)}")
        raise typer.Exit(2)


def _store_path(option: Optional[Path], settings, cfg) -> Path:
    return option or (Path(cfg.store_dir) if cfg.store_dir else Path(settings.home) / "hunt")


def _feeds(folder: Path, cfg):
    from kakuri.hunt.feeds import add_feed_text, fetch_feed, load_feeds

    if not folder.exists():
        console.print(f"[red]error:[/red] feeds folder not found: {folder}")
        raise typer.Exit(2)
    feed_set = load_feeds(folder)
    for url in cfg.feed_urls:
        add_feed_text(feed_set, fetch_feed(url))
    return feed_set


def _log_files(paths: list[Path]):
    from kakuri.hunt.sources import expand

    missing = [p for p in paths if not p.exists()]
    if missing:
        console.print(f"[red]error:[/red] not found: {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    files, unknown = expand(paths)
    for path in unknown:
        console.print(f"[yellow]skipped[/yellow] {path}: not a log format hunt reads")
    if not files:
        console.print("[red]error:[/red] no recognisable log files")
        raise typer.Exit(2)
    return files


def _malformed(stats) -> None:
    for line in stats.summary():
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _results(report, json_out, notify_csv, labels, show: str, fmt: str) -> None:
    from kakuri.hunt.verdicts import write_json

    if json_out:
        write_json(json_out, report.records)
    # the clean hosts' dicts only when they are printed: the infected are what the rest reads
    records = [r.as_json() for r in report.records if show == "all" or r.verdict == "infected"]
    if notify_csv:
        write_notify_csv(notify_csv, records)
    print_records(records, fmt=fmt, show=show, total=len(report.records))
    read = f", {report.stats.malformed_total} malformed skipped, {len(report.files)} files" if report.files else ""
    console.print(f"{report.lines} lines in {report.seconds:.1f} s ({report.lines_per_second:,.0f} lines/s){read}",
                  highlight=False, soft_wrap=True)
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
        self.progress = Progress(TextColumn("[bold]reading logs"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                                 console=console, transient=True)
        self.progress.__enter__()
        return self.progress, self.progress.add_task("reading", total=None)

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)
