"""`kakuri incident ...`: open, link, annotate, isolate, warn, report and close incidents."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator, Optional

import typer

from kakuri.cli import output, state
from kakuri.cli.actor import current_actor
from kakuri.respond import incidents as svc

app = typer.Typer(help="Incidents: hosts, accounts, messages and indicators of one outbreak, with a timeline.", no_args_is_help=True)
console = output.console()


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="incident")


@contextmanager
def _stores() -> Iterator:
    from kakuri.store.config import open_stores

    stores = open_stores(state.settings())
    try:
        yield stores
    except (svc.IncidentError, ValueError) as exc:
        raise output.fail(exc, 2) from exc
    finally:
        stores.close()


@app.command("open")
def open_(
    title: str = typer.Argument(..., help="Short title, e.g. 'Emotet: hijacked replies from sales PC'"),
    severity: str = typer.Option("high", "--severity"),
    summary: str = typer.Option("", "--summary"),
) -> None:
    """Open an incident and print its number."""
    with _stores() as stores, stores.sessions() as session:
        incident = svc.open_incident(session, title=title, actor=current_actor(), severity=severity, summary=summary)
        session.commit()
        console.print(f"opened incident {incident.id}: {incident.title}")


@app.command("list")
def list_(status: Optional[str] = typer.Option(None, "--status", help="open | closed")) -> None:
    """List incidents, newest first."""
    with _stores() as stores, stores.sessions() as session:
        table = output.table("id", "status", "severity", "opened (UTC)", "title", "hosts", "accounts", "contacts")
        for inc in svc.list_incidents(session, status=status):
            count = lambda kind: str(sum(l.kind == kind for l in inc.links))  # noqa: E731
            table.add_row(str(inc.id), inc.status, inc.severity, f"{inc.opened_at:%Y-%m-%d %H:%M}", inc.title, count("host"), count("account"), count("contact"))
        console.print(table)


@app.command("show")
def show(incident_id: int) -> None:
    """Show an incident: links and timeline."""
    with _stores() as stores, stores.sessions() as session:
        inc = svc.get_incident(session, incident_id)
        console.print(output.styled((f"incident {inc.id}", "bold"), f" {inc.title} — {inc.status}, {inc.severity}"))
        links = output.table("kind", "value", "note", title="linked")
        for l in inc.links:
            links.add_row(l.kind, l.value, l.note)
        console.print(links)
        timeline = output.table("time (UTC)", "who", "what", title="timeline")
        for e in inc.events:
            timeline.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, f"{e.kind}: {e.text}")
        console.print(timeline)


@app.command("note")
def note(incident_id: int, text: str) -> None:
    """Add a note to the timeline."""
    with _stores() as stores, stores.sessions() as session:
        svc.add_note(session, incident_id, actor=current_actor(), text=text)
        session.commit()


@app.command("link")
def link(
    incident_id: int,
    kind: str = typer.Argument(..., help="host | account | message | indicator | contact"),
    values: list[str] = typer.Argument(...),
    note: str = typer.Option("", "--note"),
) -> None:
    """Link hosts, accounts, messages (queue ids), indicators or contacts to the incident."""
    with _stores() as stores, stores.sessions() as session:
        added = sum(svc.link(session, incident_id, kind=kind, value=v, actor=current_actor(), note=note) is not None for v in values)
        session.commit()
        console.print(f"linked {added} new {kind}(s)")


@app.command("import-hunt")
def import_hunt(incident_id: int, hunt_json: Path = typer.Argument(..., help="Output of `kakuri hunt --json`")) -> None:
    """Link the infected hosts and accounts found by `kakuri hunt`, and their contacts to warn."""
    try:
        results = json.loads(hunt_json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise output.fail(f"cannot read {hunt_json}: {exc}", 2) from exc
    with _stores() as stores, stores.sessions() as session:
        counts = svc.import_hunt(session, incident_id, results, actor=current_actor())
        session.commit()
        console.print(f"linked {counts['host']} host(s), {counts['account']} account(s), {counts['contact']} contact(s)")


@app.command("iocs")
def iocs(
    incident_id: int,
    queue_ids: list[str] = typer.Argument(None, help="Messages to extract from; default: the incident's linked messages"),
    retro: bool = typer.Option(True, "--retro/--no-retro", help="Search delivered mail for the same indicators"),
    since: Optional[datetime] = typer.Option(None, "--since", help="Retro-search from this time (UTC)"),
) -> None:
    """Extract indicators (hashes, URLs, senders, subjects) from quarantined mail; retro-search delivered mail."""
    from kakuri.respond.indicators import indicators_of_messages, retro_search

    with _stores() as stores, stores.sessions() as session:
        inc = svc.get_incident(session, incident_id)
        ids = list(queue_ids or [l.value for l in inc.links if l.kind == "message"])
        if not ids:
            raise svc.IncidentError("no messages: give queue ids or link messages first (`kakuri incident link N message QID`)")
        found = indicators_of_messages(session, stores.blobs, ids)
        for value in found.as_links():
            svc.link(session, incident_id, kind="indicator", value=value, actor=current_actor())
        console.print(f"{len(found.as_links())} indicator(s) from {len(ids)} message(s)")
        if retro:
            matches = retro_search(session, stores.blobs, found, since=since)
            table = output.table("queue id", "received (UTC)", "from", "subject", "recipients", "matched", title="delivered mail with these indicators")
            for m in matches:
                table.add_row(m.queue_id, f"{m.received_at:%Y-%m-%d %H:%M}", m.mail_from, m.subject, ", ".join(m.recipients), ", ".join(m.matched))
                svc.link(session, incident_id, kind="message", value=m.queue_id, actor=current_actor(), note="retro-search: " + ", ".join(m.matched)[:300])
            console.print(table)
            svc.add_event(session, incident_id, actor=current_actor(), kind="detection", text=f"retro-search: {len(matches)} delivered message(s) match")
        session.commit()


@app.command("isolate")
def isolate(
    incident_id: int,
    host: str,
    reason: str = typer.Option("", "--reason", "-r"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be called, call nothing"),
) -> None:
    """Isolate a host (an IP address or a host name) through the configured actions ([[respond.isolation]] in kakuri.toml)."""
    from kakuri.respond.isolation import IsolationError, check_actions, check_host, isolate_host

    settings = state.settings()
    try:
        actions = check_actions(settings.section("respond").get("isolation", []))
        host = check_host(host)
    except IsolationError as exc:
        raise output.fail(exc, 2) from exc
    with _stores() as stores, stores.sessions() as session:
        svc.link(session, incident_id, kind="host", value=host, actor=current_actor())
        results = isolate_host(session, incident_id, host, actions, actor=current_actor(), reason=reason, dry_run=dry_run)
        session.commit()
    for r in results:
        mark = ("dry run", "yellow") if r.dry_run else (("ok", "green") if r.ok else ("FAILED", "red"))
        console.print(output.styled(f"{r.action}: ", mark, f" {r.detail}"))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command("warn")
def warn(
    incident_id: int,
    preview: bool = typer.Option(False, "--preview", help="Show the mail and who would get it; send nothing"),
    lang: Optional[str] = typer.Option(None, "--lang", help="ja | en | both (default: [respond.warning] language)"),
    rate: Optional[float] = typer.Option(None, "--rate", help="Warnings per minute (default: [respond.warning])"),
) -> None:
    """Warn the incident's contacts through the gateway (each address once, rate-limited, status kept)."""
    from kakuri.respond.outbox import spool_sender, warning_config
    from kakuri.respond.warnings import WarningConfig, compose_warning, render_text, send_warnings

    settings = state.settings()
    update = {k: v for k, v in (("language", lang), ("rate_per_minute", rate)) if v is not None}
    try:
        config = WarningConfig.model_validate({**warning_config(settings).model_dump(), **update})
    except ValueError as exc:
        raise output.fail(exc, 2) from exc
    with _stores() as stores, stores.sessions() as session:
        targets = svc.contacts(svc.get_incident(session, incident_id))
        if not targets:
            raise svc.IncidentError("no contacts to warn: link some (`link N contact ADDR`) or import a hunt")
        if preview:
            text = render_text(config, our_domains=settings.org.our_domains, incident_ref=f"INC-{incident_id}", home=settings.home)
            console.print(output.styled((f"{len(targets)} recipient(s)", "bold"), f": {', '.join(targets[:20])}{' ...' if len(targets) > 20 else ''}"))
            if config.from_address:
                size = len(compose_warning(config, targets[0], text))
                console.print(f"from {config.from_address}, {config.charset}, {size} bytes; the text as recipients will read it:\n")
            else:
                console.print("set [respond.warning] from_address in kakuri.toml before sending\n", style="yellow")
            output.echo(text)
            return
        if not config.from_address:
            raise svc.IncidentError("set [respond.warning] from_address in kakuri.toml before sending warnings")
        counts = send_warnings(
            session, incident_id, config=config, sender=spool_sender(settings, incident_ref=f"INC-{incident_id}"),
            our_domains=settings.org.our_domains, actor=current_actor(), home=settings.home,
        )
    console.print(f"warnings: {counts['sent']} handed to the gateway, {counts['failed']} failed, {counts['skipped']} already sent")
    if counts["failed"]:
        raise typer.Exit(1)


@app.command("notify-list")
def notify_list(
    incident_id: int,
    csv_out: Path = typer.Option(..., "--csv", help="File to write (address, why, warning status)"),
) -> None:
    """Write the contacts to warn, with where they came from and what happened to their warning."""
    import csv

    from kakuri.respond.warnings import delivery_status

    with _stores() as stores, stores.sessions() as session:
        inc = svc.get_incident(session, incident_id)
        status = delivery_status(session, incident_id)
        rows = [(l.value, l.note, status.get(l.value, "not sent")) for l in inc.links if l.kind == "contact"]
    with csv_out.open("w", newline="", encoding="utf-8-sig") as out:  # BOM: Excel in Japan opens it as UTF-8
        writer = csv.writer(out)
        writer.writerow(["address", "why", "warning"])
        writer.writerows(sorted(rows))
    console.print(f"wrote {len(rows)} contact(s) to {csv_out}")


@app.command("report")
def report(
    incident_id: int,
    fmt: str = typer.Option("md", "--format", help="md | html"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write; default stdout"),
) -> None:
    """Write the incident report (timeline, hosts, accounts, mail counts, warnings, actions)."""
    from kakuri.respond.report import build_report, render_report

    with _stores() as stores, stores.sessions() as session:
        text = render_report(build_report(session, incident_id), fmt)
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
    else:
        typer.echo(text)  # rendered by respond.report, which escapes every value for its format


@app.command("close")
def close(incident_id: int, summary: str = typer.Option("", "--summary")) -> None:
    """Close the incident (its report stays available)."""
    with _stores() as stores, stores.sessions() as session:
        svc.close_incident(session, incident_id, actor=current_actor(), summary=summary)
        session.commit()
