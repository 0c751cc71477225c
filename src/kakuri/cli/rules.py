"""`kakuri rules reload`: check new scanning rules, hand them to the running gateway, judge retained mail again.

Scanning rules: YARA files in `<home>/rules/yara`, policy.toml, [detectors] in kakuri.toml (and kakuri's
own version). The rules are compiled here first; a file that does not compile is refused with its name
and nothing changes (no signal, no retro-scan). Then, with a running gateway (`run/kakuri.pid`), it is
sent SIGHUP and this waits for it to confirm the new rule version (receive/rules_reload.py); the gateway
starts the retro-scan job itself, which this follows. Without one, the retro-scan job runs here.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Optional

import typer

from kakuri.cli import state
from kakuri.cli.retro import _auto, _job, _report_run, fail, opened, shown

rules_app = typer.Typer(help="Scanning rules: YARA, policy, detector options.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")


@rules_app.command("reload")
def reload(
    retro: Optional[bool] = typer.Option(
        None, "--retro-scan/--no-retro-scan", help="Judge retained mail again (default: [retro] auto)"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the gateway's retro-scan job until it ends"),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the gateway to apply the rules"),
) -> None:
    """Check the scanning rules on disk; if they compile, make the gateway use them and retro-scan retained mail."""
    from kakuri.receive.reload import PID_FILE, ReloadError, request_reload
    from kakuri.receive.rules_reload import read_rules_state, validate_rules
    from kakuri.respond.retroscan import rule_version
    from kakuri.settings import SettingsError, load_settings

    from kakuri.settings import resolve_home

    home = resolve_home(state.HOME)
    try:
        settings = load_settings(home)
        validate_rules(settings)
    except SettingsError as exc:
        raise fail(f"rules not reloaded, nothing changed: {exc}") from exc
    version = rule_version(settings)
    typer.echo(f"rules compiled: rule version {version[:12]}")
    gateway = (home / PID_FILE).exists()
    asked = datetime.now(UTC) - timedelta(seconds=1)
    changed = False  # the running gateway's rule version changes: it starts the retro-scan itself
    if gateway:
        before = read_rules_state(home)
        try:
            request_reload(home)
        except ReloadError as exc:
            typer.echo(f"no running gateway answered ({exc}); it reads these rules when it starts", err=True)
            gateway = False
        else:
            applied = _wait_for_rules(home, before, timeout)
            if applied is None:
                raise fail(f"the gateway did not confirm the new rules within {timeout:g} s: restart it "
                           f"(`systemctl restart kakuri` or stop and start `kakuri serve`)", code=1)
            if applied.error or applied.rule_version != version:
                raise fail(f"the gateway refused the rules: {shown(applied.error or 'another rule version')}; "
                           "it keeps the rules in force", code=1)
            changed = before is None or before.rule_version != version
            typer.echo(f"gateway: scanning with rule version {version[:12]}" + ("" if changed else " (already)"))
    else:
        typer.echo("no running gateway: `kakuri serve` uses these rules when it starts")
    with opened() as (settings, stores):
        if not _auto(settings, retro):
            return
        if changed:  # the gateway runs the job; follow it
            if wait:
                _follow(stores, version, asked, timeout)
            else:
                typer.echo("retro-scan: the gateway runs it in the background; `kakuri retro-scan --jobs` shows it")
            return
        from kakuri.respond.retrojobs import rescan_reason

        reason = rescan_reason(settings, stores)
        if reason is None and retro is None:
            typer.echo("retro-scan: the retained window is judged under this rule version already")
            return
        _report_run(_job(settings, stores, reason=f"rules reload: {reason or 'asked'}", full=True))


def _wait_for_rules(home: Path, before, timeout: float):
    from kakuri.receive.rules_reload import read_rules_state

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = read_rules_state(home)
        if now is not None and (before is None or now.checked_at != before.checked_at):
            return now
        time.sleep(0.1)
    return None


def _follow(stores, version: str, asked: datetime, timeout: float) -> None:
    """Print the progress of the gateway's job under `version` until it ends."""
    from sqlalchemy import select

    from kakuri.store.retention import RetroJob

    deadline, job, last = time.monotonic() + timeout, None, ""
    while True:
        with stores.sessions() as session:
            job = session.scalar(select(RetroJob).where(RetroJob.rule_version == version, RetroJob.full.is_(True),
                                                        RetroJob.started_at >= asked)
                                 .order_by(RetroJob.id.desc()).limit(1))
            if job is not None:
                session.expunge(job)
        if job is None:
            if time.monotonic() > deadline:
                typer.echo("retro-scan: no job from the gateway yet (nothing to judge again, [retro] auto = false, or "
                           "it waits for a running job): `kakuri retro-scan --jobs` shows them")
                return
        elif job.state != "running":
            typer.echo(f"retro-scan job {job.id} {job.state}: {job.examined} examined, {job.scanned} scanned, "
                       f"{job.skipped} skipped, {job.findings} finding(s)"
                       + (f", incident {job.incident_id}" if job.incident_id else "")
                       + (f"; {shown(job.error)}" if job.error else ""))
            if job.findings:
                incident = job.incident_id
                typer.echo(f"incident {incident}: `kakuri clawback --incident {incident} -r why --dry-run`")
            return
        elif job.total:
            line = f"retro-scan job {job.id}: {job.scanned + job.skipped}/{job.total}"
            if line != last:
                typer.echo(line, err=True)
                last = line
        time.sleep(1.0)
