"""`kakuri retention`, `kakuri iocs`, `kakuri retro-scan`: keep delivered mail, exchange indicators, judge again.

Output is plain text (`typer.echo`, one line per item; `--json` where a script reads it), with attacker
controlled values (subjects, addresses, URLs) printed through `repr`-free escaping of control characters.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Iterator, Optional

import typer

from kakuri.cli import state
from kakuri.cli.actor import current_actor

retention_app = typer.Typer(help="Retention of delivered mail (for retro-scan and clawback).", no_args_is_help=True)
iocs_app = typer.Typer(help="Indicators of compromise: import/export STIX 2.1, MISP, abuse.ch; feeds.", no_args_is_help=True)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
    app.add_typer(iocs_app, name="iocs")
    app.command("retro-scan")(retro_scan_command)


def shown(value: object) -> str:
    """A value from mail, safe to print on a terminal (control and bidi characters as escapes)."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))


def fail(message: object, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def opened() -> Iterator:
    from kakuri.store.config import open_stores

    settings = state.settings()
    stores = open_stores(settings)
    try:
        yield settings, stores
    except ValueError as exc:
        raise fail(exc) from exc
    finally:
        stores.close()


def parse_since(value: str) -> datetime:
    """"7d", "12h", "30m" or an ISO date/time (UTC)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhm])", value.strip())
    if match:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: float(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r}: use 7d, 12h, 30m or an ISO date such as 2026-11-20") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- retention -----------------------------------------------------------------------------------
@retention_app.command("expire")
def expire() -> None:
    """Delete retained copies older than the retention days, then the oldest while over max_total_bytes (run daily)."""
    from kakuri.store.retention import Retention

    with opened() as (settings, stores):
        retention = Retention.of(settings, engine=stores.engine)
        with stores.sessions() as session:
            count, freed = retention.expire(session)
    typer.echo(f"expired {count} retained message(s), {freed} bytes")


@retention_app.command("keygen")
def keygen(path: Path = typer.Argument(Path("retention.key"), help="Key file, relative to the data folder")) -> None:
    """Make a key for encrypting retained mail at rest; then set retention.encryption_key_file."""
    from cryptography.fernet import Fernet

    home = Path(state.settings().home)
    target = path if path.is_absolute() else home / path
    if target.exists():
        raise fail(f"{target} exists; losing a key makes the mail retained under it unreadable")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600)
    target.write_bytes(Fernet.generate_key() + b"\n")
    typer.echo(f"wrote {target}; add to kakuri.toml:  [retention] encryption_key_file = \"{path}\"")


@retention_app.command("status")
def status() -> None:
    """How much delivered mail is retained, and over which window."""
    from sqlalchemy import func, select

    from kakuri.store.retention import RetainedMessage

    with opened() as (_settings, stores), stores.sessions() as session:
        count, size, first, last = session.execute(select(
            func.count(), func.coalesce(func.sum(RetainedMessage.size), 0),
            func.min(RetainedMessage.retained_at), func.max(RetainedMessage.retained_at))).one()
    typer.echo(f"{count} message(s), {size} bytes, from {first} to {last}")


# -- indicators ----------------------------------------------------------------------------------
@iocs_app.command("import")
def import_(
    path: Path = typer.Argument(..., help="A STIX 2.1 bundle, a MISP event (JSON) or an abuse.ch CSV/list"),
    fmt: str = typer.Option("auto", "--format", help="auto | stix | misp | abusech"),
    incident: Optional[int] = typer.Option(None, "--incident", help="Link the indicators (and any finding) to this incident"),
    retro_option: Optional[bool] = typer.Option(
        None, "--retro-scan/--no-retro-scan",
        help="Match them against retained delivered mail now (default: [retro] auto)"),
    since: Optional[str] = typer.Option(None, "--since", help="Window of the retro-scan (default: the retention days)"),
) -> None:
    """Import indicators; the retained mail is then checked for them at once (a retro-scan job, no rescan)."""
    from kakuri.respond.iocx import store_iocs, write_scanner_lists

    text = path.read_text(encoding="utf-8", errors="replace")
    source, iocs = read_any(text, fmt, path.name)
    with opened() as (settings, stores):
        with stores.sessions() as session:
            new = store_iocs(session, iocs, source=source, incident_id=incident, actor=current_actor())
            hashes, urls = write_scanner_lists(session, Path(settings.home))
            session.commit()
        typer.echo(f"{len(iocs)} indicator(s) from {source}, {new} new; scanner lists: {hashes} hashes, {urls} URLs")
        if retro_option or (retro_option is None and new and _auto(settings, None)):
            _report_run(_job(settings, stores, reason=f"iocs import {path.name}", full=False, since=since,
                             incident=incident))


def read_any(text: str, fmt: str, name: str):
    """(source name, indicators) of a file in any of the formats we read."""
    from kakuri.respond.iocx import stix
    from kakuri.respond.iocx.abusech import read_abusech
    from kakuri.respond.iocx.misp import read_events

    stripped = text.lstrip()
    if fmt == "auto":
        fmt = "stix" if stix.is_bundle(stripped) else "misp" if stripped.startswith(("{", "[")) else "abusech"
    try:
        if fmt == "stix":
            bundle_id, iocs = stix.read_bundle(text)
            return f"stix:{bundle_id}", iocs
        if fmt == "misp":
            events = read_events(text)
            return "misp:" + ",".join(u for u, _ in events)[:280], [i for _, found in events for i in found]
        if fmt == "abusech":
            return f"abusech:{name}", read_abusech(text, source=name)
    except ValueError as exc:
        raise fail(f"{name}: {exc}") from exc
    raise fail(f"unknown format {fmt!r}: use stix, misp or abusech")


@iocs_app.command("export")
def export(
    incident: int = typer.Option(..., "--incident", help="Whose indicators"),
    fmt: str = typer.Option("stix", "--format", help="stix | misp"),
    out: Optional[Path] = typer.Option(None, "-o", "--output", help="File to write; default standard output"),
) -> None:
    """An incident's indicators (hashes, URLs, domains, senders, hunt C2 addresses) as STIX 2.1 or a MISP event."""
    from kakuri.respond.incidents import get_incident
    from kakuri.respond.iocx import incident_iocs
    from kakuri.respond.iocx.misp import write_event
    from kakuri.respond.iocx.stix import write_bundle

    with opened() as (settings, stores), stores.sessions() as session:
        found = incident_iocs(session, incident)
        title = f"kakuri incident {incident}: {get_incident(session, incident).title}"
    organisation = settings.org.name or "kakuri"
    writer = {"stix": write_bundle, "misp": write_event}.get(fmt)
    if writer is None:
        raise fail(f"unknown format {fmt!r}: use stix or misp")
    text = writer(found, title=title, organisation=organisation)
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"{len(found)} indicator(s) written to {out}")
    else:
        typer.echo(text)


@iocs_app.command("list")
def list_(kind: Optional[str] = typer.Option(None, "--kind"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Imported indicators."""
    from sqlalchemy import select

    from kakuri.store.indicators import Indicator

    with opened() as (_settings, stores), stores.sessions() as session:
        query = select(Indicator).order_by(Indicator.kind, Indicator.value)
        if kind:
            query = query.where(Indicator.kind == kind)
        rows = list(session.scalars(query))
    for row in rows:
        if as_json:
            typer.echo(json.dumps({"kind": row.kind, "value": row.value, "source": row.source,
                                   "incident": row.incident_id}, ensure_ascii=False))
        else:
            typer.echo(f"{row.kind}\t{shown(row.value)}\t{shown(row.source)}")


@iocs_app.command("refresh")
def refresh(force: bool = typer.Option(False, "--force", help="Fetch even the feeds that are not due")) -> None:
    """Fetch the configured iocx feeds that are due (conditional requests); run from cron or a systemd timer."""
    from kakuri.respond.iocx import write_scanner_lists
    from kakuri.respond.iocx.feeds import FeedConfig, refresh_feeds

    with opened() as (settings, stores):
        feeds = [FeedConfig.model_validate(f) for f in settings.section("iocx").get("feeds", [])]
        if not feeds:
            raise fail("no feeds: add [[iocx.feeds]] name/url/format entries to kakuri.toml")
        results = refresh_feeds(feeds, stores, Path(settings.home), force=force)
        if any(r.status == "updated" for r in results):
            with stores.sessions() as session:
                write_scanner_lists(session, Path(settings.home))
        for r in results:
            typer.echo(f"{r.name}: {r.status}, {r.indicators} indicator(s)" + (f" ({shown(r.detail)})" if r.detail else ""))
        updated = [r.name for r in results if r.status == "updated" and r.indicators]
        if updated and _auto(settings, None):
            _report_run(_job(settings, stores, reason=f"iocs refresh {', '.join(updated)}"[:200], full=False))
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


@iocs_app.command("pull-misp")
def pull_misp(incident: Optional[int] = typer.Option(None, "--incident")) -> None:
    """Import the recent events of the configured MISP server (iocx.misp, REST API)."""
    from kakuri.respond.iocx import store_iocs, write_scanner_lists
    from kakuri.respond.iocx.misp import MispConfig, fetch_events, read_events

    with opened() as (settings, stores):
        config = MispConfig.model_validate(settings.section("iocx").get("misp", {}))
        events = read_events(fetch_events(config, Path(settings.home)))
        with stores.sessions() as session:
            new = sum(store_iocs(session, iocs, source=f"misp:{uuid}", incident_id=incident, actor=current_actor())
                      for uuid, iocs in events)
            write_scanner_lists(session, Path(settings.home))
            session.commit()
        typer.echo(f"{len(events)} event(s), {new} new indicator(s)")
        if new and _auto(settings, None):
            _report_run(_job(settings, stores, reason="iocs pull-misp", full=False, incident=incident))


# -- retro-scan ----------------------------------------------------------------------------------
def retro_scan_command(
    since: Optional[str] = typer.Option(
        None, "--since", help="7d, 12h or an ISO date (UTC); default the retention days"),
    incident: Optional[int] = typer.Option(None, "--incident", help="Link findings here (default: a new incident)"),
    skip: bool = typer.Option(
        True, "--skip-judged/--no-skip-judged", help="Skip mail already judged under this rule version"),
    workers: Optional[int] = typer.Option(
        None, "--workers", help="Scan processes (default: [retro] workers, one per core; 0 = this process)"),
    auto: bool = typer.Option(
        False, "--auto", help="Only if the window was last judged under another rule version (cron)"),
    jobs: bool = typer.Option(False, "--jobs", help="List the recent retro-scan jobs (and the running one's progress)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Judge retained delivered mail again with today's indicators, rules and policy (one job at a time)."""
    from kakuri.respond.retrojobs import RetroConfig, rescan_reason

    with opened() as (settings, stores):
        if jobs:
            _list_jobs(stores, as_json=as_json)
            return
        reason = "retro-scan"
        if auto:
            due = rescan_reason(settings, stores) if RetroConfig.from_settings(settings).auto else None
            if due is None:
                typer.echo("retro-scan: the retained window is judged under today's rule version "
                           "(or [retro] auto = false)")
                return
            reason = f"retro-scan --auto: {due}"
        run = _job(settings, stores, reason=reason, full=True, since=since, incident=incident, skip=skip,
                   workers=workers, quiet=as_json)
    _report_run(run, as_json=as_json)


def _auto(settings, option: Optional[bool]) -> bool:
    """An explicit --retro-scan/--no-retro-scan, else `[retro] auto`."""
    from kakuri.respond.retrojobs import RetroConfig

    return option if option is not None else RetroConfig.from_settings(settings).auto


def _job(settings, stores, *, reason: str, full: bool, since: Optional[str] = None, incident=None, skip: bool = True,
         workers=None, quiet: bool = False):
    """Run one retro-scan job in this process, waiting for a running one first; progress on stderr."""
    from kakuri.respond.retrojobs import run_job

    shown_progress = _Progress(quiet)

    def waiting(job) -> None:
        typer.echo(f"retro-scan: waiting for job {job.id} ({shown(job.reason)}, started {job.started_at:%H:%M:%S} UTC, "
                   f"{job.examined}/{job.total}) to finish", err=True)

    job, run = run_job(settings, stores, reason=reason, actor=current_actor(), full=full,
                       since=parse_since(since) if since else None, incident_id=incident, skip_judged=skip,
                       workers=workers, on_wait=waiting, progress=shown_progress)
    return run


class _Progress:
    """One stderr line every few seconds: done/total, rate."""

    def __init__(self, quiet: bool, every: float = 3.0) -> None:
        import time

        self.quiet, self.every, self.clock = quiet, every, time.monotonic
        self.started = self.last = self.clock()

    def __call__(self, run) -> None:
        now = self.clock()
        if self.quiet or now - self.last < self.every:
            return
        self.last = now
        done = run.scanned + run.skipped + run.missing
        rate = done / (now - self.started) if now > self.started else 0.0
        typer.echo(f"retro-scan: {done}/{run.total} ({run.scanned} scanned, {run.skipped} skipped), {rate:.0f} msg/s",
                   err=True)


def _list_jobs(stores, *, as_json: bool) -> None:
    from kakuri.cli import output
    from kakuri.respond.retrojobs import recent_jobs

    rows = recent_jobs(stores, limit=20)
    if as_json:
        for j in rows:
            typer.echo(json.dumps({"id": j.id, "reason": j.reason, "state": j.state, "rule_version": j.rule_version,
                                   "full": j.full, "started_at": j.started_at.isoformat(), "total": j.total,
                                   "examined": j.examined, "scanned": j.scanned, "skipped": j.skipped,
                                   "findings": j.findings, "incident": j.incident_id, "error": j.error},
                                  ensure_ascii=False))
        return
    table = output.table("job", "started (UTC)", "reason", "state", "rules", "done/total", "scanned", "findings",
                         "incident")
    for j in rows:
        done = j.scanned + j.skipped
        table.add_row(str(j.id), f"{j.started_at:%Y-%m-%d %H:%M:%S}", j.reason,
                      j.state + (f": {j.error}" if j.error else ""),
                      j.rule_version[:12] + ("" if j.full else " (indicators)"), f"{done}/{j.total}", str(j.scanned),
                      str(j.findings), str(j.incident_id or ""))
    output.console().print(table)


def _report_run(run, *, as_json: bool = False) -> None:
    summary = {"job": run.job_id, "rule_version": run.rule_version, "examined": run.examined,
               "scanned": run.scanned, "skipped": run.skipped, "missing": run.missing, "findings": len(run.findings),
               "incident": run.incident_id, "seconds": round(run.seconds, 3), "per_second": round(run.rate, 1)}
    if as_json:
        typer.echo(json.dumps({**summary, "messages": [
            {"queue_id": f.queue_id, "recipients": f.recipients, "matched": f.matched} for f in run.findings]}))
        return
    job = run.job_id
    typer.echo(f"retro-scan{f' job {job}' if job else ''}: {run.examined} examined, {run.scanned} scanned, "
               f"{run.skipped} skipped (judged before), "
               f"{len(run.findings)} new finding(s) in {run.seconds:.1f}s ({run.rate:.0f} msg/s)")
    for f in run.findings:
        typer.echo(f"  {f.queue_id} -> {', '.join(shown(r) for r in f.recipients)}: {shown('; '.join(f.matched))[:300]}")
    if run.findings:
        typer.echo(f"incident {run.incident_id}: `kakuri clawback --incident {run.incident_id} -r why --dry-run`")
