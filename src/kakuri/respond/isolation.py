"""Pluggable isolation of an incident host: a webhook (JSON POST) or a configured command.

kakuri does not isolate PCs itself; it calls what the company already has (NAC, EDR, firewall API).
Every call, and every dry run, lands on the incident timeline with its result, also when the request
could not even be built.

The host is an argument to someone else's tool, and host values reach incidents from logs: it must be
an IP address or a host name (`check_host`), so it can never start with `-`, hold a newline or a shell
metacharacter. Put `--` before "{host}" in `argv` when the tool takes an end-of-options marker.
Webhooks never follow redirects: a 3xx would turn the POST into a GET and hand the Authorization
header to whatever host the answer names; it is a failure with its Location, as are non-2xx answers
and timeouts.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from kakuri.respond.incidents import add_event, get_incident


class IsolationAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["webhook", "command"]
    url: str = ""  # webhook: receives {"action": "isolate", "host": ..., "incident": ..., "reason": ...}
    headers: dict[str, str] = Field(default_factory=dict)
    argv: list[str] = Field(default_factory=list)  # command: "{host}", "{incident}" and "{reason}" are substituted
    timeout_seconds: float = 30.0

    @model_validator(mode="after")
    def _complete(self) -> IsolationAction:
        if self.kind == "webhook" and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"isolation action {self.name!r}: a webhook needs url = 'http(s)://...'")
        if self.kind == "command" and not self.argv:
            raise ValueError(f"isolation action {self.name!r}: a command needs argv = ['/path/to/tool', '{{host}}']")
        return self


_HOST_NAME = re.compile(r"(?=.{1,253}$)(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?")


class IsolationError(ValueError):
    """The host or the configuration cannot be used; nothing was called."""


def check_host(host: str) -> str:
    """The host as an IP address (normalised) or a host name; anything else is refused."""
    value = host.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if _HOST_NAME.fullmatch(value) and not value.replace(".", "").isdigit():
        return value.lower()
    shown = json.dumps(host[:100])
    raise IsolationError(f"host {shown} is not an IP address or a host name (letters, digits, '-', '_' and '.'): give the PC's address or name")


def check_reason(reason: str) -> str:
    """"{reason}" may be an argument of its own in a command's argv: it must not read as an option either."""
    if reason.lstrip().startswith("-") or not reason.isprintable():
        raise IsolationError("the reason must be one line of text that does not start with '-'")
    return reason


def check_actions(section: list) -> list[IsolationAction]:
    """[[respond.isolation]] of kakuri.toml, validated (at start-up, so a typo shows before an outbreak)."""
    if not isinstance(section, list):
        raise IsolationError("[[respond.isolation]] must be a list of tables (one [[respond.isolation]] per action)")
    try:
        return [IsolationAction.model_validate(entry) for entry in section]
    except ValueError as exc:
        raise IsolationError(f"[[respond.isolation]] in kakuri.toml: {exc}") from exc


@dataclass(frozen=True)
class IsolationResult:
    action: str
    host: str
    ok: bool
    dry_run: bool
    detail: str


def isolate_host(
    session: Session,
    incident_id: int,
    host: str,
    actions: list[IsolationAction],
    *,
    actor: str,
    reason: str = "",
    dry_run: bool = False,
) -> list[IsolationResult]:
    get_incident(session, incident_id)
    if not actions:
        raise IsolationError("no isolation action is configured: add [[respond.isolation]] entries to kakuri.toml")
    host, reason = check_host(host), check_reason(reason)
    results = []
    for action in actions:
        try:
            result = _run(action, host, incident_id, reason, dry_run)
        except Exception as exc:  # noqa: BLE001 - a bad template must still leave its trace on the timeline
            result = IsolationResult(action.name, host, False, dry_run, f"request not built: {type(exc).__name__}: {exc}")
        results.append(result)
        state = ("dry run" if dry_run else "ok") if result.ok else f"FAILED: {result.detail[:300]}"
        add_event(
            session, incident_id, actor=actor, kind="isolation",
            text=f"isolate {host} via {action.name} ({action.kind}): {state}",
            detail={"action": action.name, "host": host, "ok": result.ok, "dry_run": dry_run, "detail": result.detail[:1000]},
        )
    return results


def _run(action: IsolationAction, host: str, incident_id: int, reason: str, dry_run: bool) -> IsolationResult:
    if action.kind == "webhook":
        payload = {"action": "isolate", "host": host, "incident": incident_id, "reason": reason}
        if dry_run:
            return IsolationResult(action.name, host, True, True, f"POST {action.url} {json.dumps(payload)}")
        return _post(action, host, payload)
    argv = [a.format(host=host, incident=incident_id, reason=reason) for a in action.argv]
    if dry_run:
        return IsolationResult(action.name, host, True, True, "would run: " + " ".join(argv))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=action.timeout_seconds, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return IsolationResult(action.name, host, False, False, f"{type(exc).__name__}: {exc}")
    output = (done.stdout + done.stderr).strip()
    return IsolationResult(action.name, host, done.returncode == 0, False, f"exit {done.returncode}: {output}"[:1000])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx code


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(action: IsolationAction, host: str, payload: dict) -> IsolationResult:
    request = urllib.request.Request(
        action.url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **action.headers},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=action.timeout_seconds) as response:
            body = response.read(2000).decode("utf-8", "replace")
            return IsolationResult(action.name, host, 200 <= response.status < 300, False, f"HTTP {response.status}: {body}")
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location", "?") if exc.headers else "?"
            return IsolationResult(action.name, host, False, False, f"HTTP {exc.code}: redirect to {where} not followed; set url to the final address")
        return IsolationResult(action.name, host, False, False, f"HTTP {exc.code}: {exc.reason}")
    except (urllib.error.URLError, OSError) as exc:  # TimeoutError is an OSError; urllib wraps connect timeouts
        if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
            return IsolationResult(action.name, host, False, False, f"timeout: no answer within {action.timeout_seconds:g} s")
        return IsolationResult(action.name, host, False, False, f"{type(exc).__name__}: {exc}")
